using System.Net.Sockets;
using System.Text;
using WasmKata.Linux;
using WasmKata.Linux.Io;
using WasmKata.Linux.Processes;
using Xunit;

namespace WasmKata.Specs.Linux;

public sealed class DaemonSpec : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly string _socketPath;
    private readonly Socket _listener;
    private readonly string _bundle;
    private readonly List<int> _children = [];

    public DaemonSpec()
    {
        _socketPath = _dir.Sub("shim.sock");
        _listener = UnixListener.Bind(_socketPath);
        _bundle = _dir.CreateSub("bundle");
    }

    public void Dispose()
    {
        foreach (var pid in _children)
        {
            Signals.TrySend(pid, 9);
            Interop.WaitPid(pid, out _, 0);
        }

        _listener.Dispose();
        _dir.Dispose();
    }

    [Fact]
    public async Task The_child_must_have_dev_null_on_0_1_2_the_socket_on_3_and_nothing_else()
    {
        var pid = await SpawnSleeperAsync();

        var fds = Directory.GetFileSystemEntries($"/proc/{pid}/fd").Select(Path.GetFileName).Order().ToList();
        Assert.Equal(["0", "1", "2", "3"], fds);
        for (var fd = 0; fd <= 2; fd++)
            Assert.Equal("/dev/null", LinkOf($"/proc/{pid}/fd/{fd}"));

        var ours = LinkOf($"/proc/self/fd/{_listener.SafeHandle.DangerousGetHandle()}");
        Assert.StartsWith("socket:[", ours, StringComparison.Ordinal);
        Assert.Equal(ours, LinkOf($"/proc/{pid}/fd/3"));
    }

    [Fact]
    public async Task The_child_must_lead_a_new_session_in_the_working_directory()
    {
        var pid = await SpawnSleeperAsync();

        Assert.True(ProcStat.TryRead(pid, out var stat));
        Assert.Equal(pid, stat.Session);
        Assert.Equal(pid, stat.ProcessGroup);
        Assert.Equal(_bundle, LinkOf($"/proc/{pid}/cwd"));
    }

    [Fact]
    public async Task The_child_must_get_our_environment_plus_the_extras()
    {
        Environment.SetEnvironmentVariable("WK_SPEC_INHERITED", "yes");
        var pid = await SpawnSleeperAsync(new Dictionary<string, string> { ["WK_SPEC_MARK"] = "42", ["PATH"] = "/override" });

        var environment = File.ReadAllText($"/proc/{pid}/environ").Split('\0', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains("WK_SPEC_MARK=42", environment);
        Assert.Contains("PATH=/override", environment);
        Assert.Single(environment, e => e.StartsWith("PATH=", StringComparison.Ordinal));
        Assert.Contains("WK_SPEC_INHERITED=yes", environment);
    }

    [Fact]
    public async Task The_child_must_start_with_no_ignored_or_blocked_signals()
    {
        Assert.True(Self.IsSigPipeIgnored()); // what the child would inherit without SETSIGDEF
        var pid = await SpawnSleeperAsync();

        var status = File.ReadAllLines($"/proc/{pid}/status");
        Assert.Equal(0UL, MaskOf(status, "SigBlk:"));

        // glibc's posix_spawn itself leaves its two internal signals (32, 33) ignored; nothing else may be.
        const ulong glibcInternal = (1UL << 31) | (1UL << 32);
        Assert.Equal(0UL, MaskOf(status, "SigIgn:") & ~glibcInternal);
    }

    private static ulong MaskOf(string[] status, string field) =>
        Convert.ToUInt64(status.Single(l => l.StartsWith(field, StringComparison.Ordinal))[field.Length..].Trim(), 16);

    [Fact]
    public async Task The_child_must_accept_connections_on_fd_3()
    {
        const string script = "import socket\n"
            + "s = socket.socket(fileno=3)\n"
            + "c, _ = s.accept()\n"
            + "c.sendall(b'accepted on fd 3')\n"
            + "c.close()\n";
        var pid = Spawn("/usr/bin/python3", ["python3", "-c", script]);

        using var client = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await client.ConnectAsync(new UnixDomainSocketEndPoint(_socketPath)).Within();
        var received = new MemoryStream();
        var buffer = new byte[64];
        int n;
        while ((n = await client.ReceiveAsync(buffer).Within()) > 0)
            received.Write(buffer, 0, n);

        Assert.Equal("accepted on fd 3", Encoding.ASCII.GetString(received.ToArray()));
        Assert.Equal(0, await ExitCodeAsync(pid));
    }

    [Fact]
    public async Task An_inheritable_pipe_must_reach_eof_while_the_child_still_runs()
    {
        // Stands in for the start process's stdout: containerd waits for EOF on it.
        var (read, write) = InheritablePipe();
        using var reader = new AsyncFd(read, "stdout stand-in");
        var pid = await SpawnSleeperAsync();
        write.Dispose();

        Assert.Equal(0, await reader.ReadAsync(new byte[8]).Within(TimeSpan.FromSeconds(5)));
        Assert.True(Signals.IsAlive(pid));
        Assert.False(Signals.TryReap(pid, out _));
    }

    [Fact]
    public void A_missing_executable_or_directory_must_fail_clearly()
    {
        var exe = _dir.Sub("no-such-binary");
        var e = Assert.Throws<FileNotFoundException>(() => Daemon.Spawn(exe, ["x"], _listener.SafeHandle, _bundle));
        Assert.Contains(exe, e.Message, StringComparison.Ordinal);

        var cwd = _dir.Sub("no-such-dir");
        var d = Assert.Throws<DirectoryNotFoundException>(() => Daemon.Spawn("/bin/sleep", ["sleep", "1"], _listener.SafeHandle, cwd));
        Assert.Contains(cwd, d.Message, StringComparison.Ordinal);

        Assert.Throws<ArgumentException>(() => Daemon.Spawn("sleep", ["sleep"], _listener.SafeHandle, _bundle));
        Assert.Throws<ArgumentException>(() => Daemon.Spawn("/bin/sleep", [], _listener.SafeHandle, _bundle));
    }

    /// <summary>
    /// Spawns sleep and waits until it sits in clock_nanosleep: posix_spawn returns as soon as exec swapped the
    /// address space, before the kernel finished the exec (environment block, close-on-exec sweep).
    /// </summary>
    private async Task<int> SpawnSleeperAsync(IReadOnlyDictionary<string, string>? extraEnv = null)
    {
        const string clockNanosleep = "230 ", nanosleep = "35 ";
        var pid = Spawn("/bin/sleep", ["sleep", "60"], extraEnv);
        var deadline = DateTime.UtcNow + Await.Long;
        while (DateTime.UtcNow < deadline)
        {
            var syscall = await File.ReadAllTextAsync($"/proc/{pid}/syscall");
            if (syscall.StartsWith(clockNanosleep, StringComparison.Ordinal) || syscall.StartsWith(nanosleep, StringComparison.Ordinal))
                return pid;

            await Task.Delay(5);
        }

        throw new TimeoutException($"sleep (pid {pid}) never went to sleep");
    }

    private int Spawn(string executable, IReadOnlyList<string> argv, IReadOnlyDictionary<string, string>? extraEnv = null)
    {
        var pid = Daemon.Spawn(executable, argv, _listener.SafeHandle, _bundle, extraEnv);
        _children.Add(pid);
        return pid;
    }

    private static async Task<int> ExitCodeAsync(int pid)
    {
        var deadline = DateTime.UtcNow + Await.Long;
        while (DateTime.UtcNow < deadline)
        {
            if (Signals.TryReap(pid, out var status))
                return (status >> 8) & 0xFF;

            await Task.Delay(10);
        }

        throw new TimeoutException($"pid {pid} did not exit");
    }

    private static string LinkOf(string path) => new FileInfo(path).LinkTarget
        ?? throw new InvalidOperationException(path + " is not a link");

    private static unsafe (SafeFdHandle Read, SafeFdHandle Write) InheritablePipe()
    {
        var fds = stackalloc int[2];
        Assert.Equal(0, Interop.Pipe2(fds, 0));
        return (new SafeFdHandle(fds[0], ownsHandle: true), new SafeFdHandle(fds[1], ownsHandle: true));
    }
}
