using System.Text;
using WasmKata.Linux.Io;
using WasmKata.Linux.Namespaces;
using WasmKata.Linux.Processes;
using WasmKata.Specs.Core.Hooks;
using Xunit;

namespace WasmKata.Specs.Linux;

/// <summary>
/// The spawn of a guest host on the real kernel, with bash standing in for the shim: every descriptor lands on its
/// number and nothing else is inherited, the pipes carry what they should, and the exit comes from waitid.
/// </summary>
[Collection(SerialHooksCollection.Name)] // hooks hold pidfds too: counting ours needs them quiet
public sealed class GuestHostChildSpec : IDisposable
{
    private readonly TempDirectory _temp = new();
    private readonly string _rootfs;
    private readonly string _module;
    private readonly string _data;

    public GuestHostChildSpec()
    {
        _rootfs = _temp.CreateSub("rootfs");
        _data = _temp.CreateSub("data");
        _module = _temp.Sub("app.wasm");
        File.WriteAllText(_module, "module bytes");
    }

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task Each_descriptor_must_land_on_its_number_and_nothing_else_must_be_inherited()
    {
        using var stdin = new GuestInputPipe();
        var files = new GuestHostFiles(_rootfs, _module, stdin, Stdout: true, Stderr: true, SharedOutput: false, [_data], SandboxNamespaces.None);
        // Prints where fds 5, 6 and 9 lead, the module through fd 6, and the list of open fds, on the stdout pipe (fd 7).
        const string script = "for fd in 5 9; do readlink /proc/self/fd/$fd; done >&7; cat <&6 >&7; echo >&7; ls /proc/self/fd | sort -n | tr '\\n' ' ' >&7";

        using var child = GuestHostChild.Spawn("/bin/bash", files, fds =>
        {
            Assert.Equal([GuestHostFdNumbers.FirstExtra], fds.PreopenFds);
            return ["bash", "-c", script];
        });
        stdin.ReleaseReadEnd();
        var output = Encoding.UTF8.GetString(await ReadToEndAsync(child.Stdout!));
        var exit = await child.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(0, exit.ExitCode);
        var lines = output.Split('\n');
        Assert.Equal(_rootfs, lines[0]);
        Assert.Equal(_data, lines[1]);
        Assert.Equal("module bytes", lines[2]);
        // 0-9 are ours; the one more is the directory ls reads /proc/self/fd through.
        var open = lines[3].Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToList();
        Assert.Equal(Enumerable.Range(0, 10), open.Take(10));
        Assert.True(open.Count == 11, $"open descriptors: {lines[3]}");
    }

    [Fact]
    public async Task Report_and_control_must_be_pipes_both_ways_and_a_signal_must_show_in_the_exit()
    {
        var files = new GuestHostFiles(_rootfs, _module, null, Stdout: false, Stderr: false, SharedOutput: false, [], SandboxNamespaces.None);
        var pidfdsBefore = Pidfds();
        var child = GuestHostChild.Spawn("/bin/bash", files, _ => ["bash", "-c", "read line <&4; echo \"got $line\" >&3; exec sleep 60"]);

        child.Control.Write("start\n"u8);
        var report = Encoding.UTF8.GetString(await ReadToEndAsync(child.Report, stopAt: (byte)'\n'));
        Assert.Equal("got start\n", report);
        // Not exited yet: the wait is on the pidfd's readiness, it must not complete before the kill.
        var waiting = child.WaitForExitAsync();
        await Task.Delay(100);
        Assert.False(waiting.IsCompleted, "the exit wait completed while the guest host still ran");
        Assert.True(child.Signal(9));
        var exit = await waiting.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(new ChildExit(null, 9), exit);
        Assert.False(child.Signal(9), "a reaped guest host must not be signalled");
        child.Dispose();
        Assert.True(Pidfds() <= pidfdsBefore, "the reaped guest host's pidfd was not closed");
    }

    // Reads until end of stream (or through the first stopAt byte), with a deadline: a read that never ends fails the spec.
    private static async Task<byte[]> ReadToEndAsync(AsyncFd fd, byte? stopAt = null)
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var all = new List<byte>();
        // One byte at a time when stopping at a byte, so nothing after it is taken.
        var buffer = new byte[stopAt is null ? 4096 : 1];
        int n;
        while ((n = await fd.ReadAsync(buffer, deadline.Token)) > 0)
        {
            all.AddRange(buffer.AsSpan(0, n));
            if (stopAt is { } stop && buffer[0] == stop)
                break;
        }
        return [.. all];
    }

    // This process's pidfds (other specs may hold some of their own, never more after than before ours).
    private static int Pidfds() => Directory.GetFiles("/proc/self/fd")
        .Count(fd => new FileInfo(fd).LinkTarget is "anon_inode:[pidfd]");

    [Fact]
    public void A_missing_rootfs_must_fail_the_spawn_and_leave_no_child()
    {
        var files = new GuestHostFiles(_temp.Sub("absent"), _module, null, Stdout: true, Stderr: true, SharedOutput: false, [], SandboxNamespaces.None);

        var e = Assert.ThrowsAny<IOException>(() => GuestHostChild.Spawn("/bin/bash", files, _ => ["bash", "-c", "exit 0"]));

        Assert.Contains("absent", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_guest_host_program_must_fail_the_spawn_saying_what_to_install()
    {
        var files = new GuestHostFiles(_rootfs, _module, null, Stdout: true, Stderr: true, SharedOutput: false, [], SandboxNamespaces.None);
        var program = GuestHostChild.ProgramBeside(_temp.Sub("containerd-shim-wasmkata-v2"));
        var before = Pidfds();

        var e = Assert.Throws<FileNotFoundException>(() => GuestHostChild.Spawn(program, files, _ => ["wasmkata-guest-host"]));

        Assert.Equal(Path.Combine(_temp.Path, "wasmkata-guest-host"), program);
        Assert.Contains($"{program} is missing", e.Message, StringComparison.Ordinal);
        Assert.Contains("installed beside the shim", e.Message, StringComparison.Ordinal);
        Assert.Equal(before, Pidfds());
    }
}
