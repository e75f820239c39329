using System.Globalization;
using WasmKata.Linux.Confinement;
using WasmKata.Specs.Linux;
using Xunit;

namespace WasmKata.Specs.EndToEnd.GuestHost;

/// <summary>
/// The published shim in <c>guest-host</c> mode on the real kernel: it confines itself and runs one module handed over
/// as descriptors. Guests run under a kill-on-unlisted seccomp filter here, so a system call missing from
/// <see cref="GuestHostSyscalls"/> kills the guest host (SIGSYS, exit 159) and fails the spec.
/// </summary>
[Trait("Requires", "root")]
public sealed class GuestHostSpec : IDisposable
{
    private const int KilledBySigsys = 128 + 31;
    private readonly TempDirectory _temp = new();
    private readonly string _rootfs;

    public GuestHostSpec()
    {
        _rootfs = _temp.CreateSub("rootfs");
        File.WriteAllText(Path.Combine(_rootfs, "hello.txt"), "a file in the rootfs\n");
        // The guest host is not root: the rootfs must be its own (the privileged side will idmap it instead).
        File.SetUnixFileMode(_temp.Path, GuestHostRun.Rwxrxrx);
        Chown(_rootfs);
        Chown(Path.Combine(_rootfs, "hello.txt"));
    }

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task Hello_must_run_confined_under_a_kill_on_unlisted_filter()
    {
        var result = await RunAsync("hello", ["hello"], seccomp: "kill");
        Assert.True(result.ExitCode == 0, result.Describe());
        Assert.Equal("hello from wasm\n", result.Stdout);
        Assert.Equal("exit 0", result.Report);
    }

    [Fact]
    public async Task A_guest_must_read_its_rootfs_through_the_descriptor()
    {
        var result = await RunAsync("readfile", ["readfile", "/hello.txt"], seccomp: "kill");
        Assert.True(result.ExitCode == 0, result.Describe());
        Assert.Equal("a file in the rootfs\n", result.Stdout);
    }

    [Fact]
    public async Task A_guest_must_read_stdin_to_its_end()
    {
        var input = string.Concat(Enumerable.Repeat("line of stdin\n", 2000));
        var result = await RunAsync("cat", ["cat"], seccomp: "kill", stdin: input);
        Assert.True(result.ExitCode == 0, result.Describe());
        Assert.Equal(input, result.Stdout);
    }

    [Fact]
    public async Task A_guest_must_sleep_on_the_clock()
    {
        var result = await RunAsync("sleep", ["sleep", "1"], seccomp: "kill");
        Assert.True(result.ExitCode == 0, result.Describe());
        Assert.Equal("sleeping\n", result.Stdout);
    }

    [Fact]
    public async Task A_guest_must_hit_its_memory_limit_and_abort_with_134()
    {
        var result = await RunAsync("hostile", ["hostile", "grow"], seccomp: "kill", extra: ["-memory-limit", $"{16 << 20}"]);
        Assert.True(result.ExitCode == 134, result.Describe());
        Assert.Equal("exit 134", result.Report);
    }

    [Fact]
    public async Task A_guest_must_write_30000_lines_through_the_stdout_descriptor()
    {
        var result = await RunAsync("hostile", ["hostile", "flood", "30000"], seccomp: "kill");
        Assert.True(result.ExitCode == 0, result.Describe());
        Assert.Equal(30000, result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
    }

    [Fact]
    public async Task A_guest_trying_its_ways_out_of_the_rootfs_must_be_refused_each_time()
    {
        var result = await RunAsync("hostile", ["hostile", "escape"], seccomp: "kill");
        Assert.True(result.ExitCode == 0, result.Describe());
        var lines = result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.NotEmpty(lines);
        Assert.All(lines, line => Assert.True(line.Contains(": denied (", StringComparison.Ordinal) || line.Contains(": not created (", StringComparison.Ordinal), line));
    }

    [Fact]
    public async Task Its_status_must_show_a_non_root_uid_no_capabilities_no_new_privs_and_a_filter()
    {
        using var run = Start("sleep", ["sleep", "30"], seccomp: "errno");
        var status = await ConfinedStatusAsync(run.Pid);
        Assert.All(status.Uids, uid => Assert.Equal(GuestHostRun.Uid, uid));
        Assert.All(status.Gids, gid => Assert.Equal(GuestHostRun.Uid, gid));
        Assert.Equal(0UL, status.CapEff);
        Assert.Equal(0UL, status.CapPrm);
        Assert.Equal(0UL, status.CapBnd);
        Assert.Equal(0UL, status.CapAmb);
        Assert.True(status.NoNewPrivs);
        Assert.Equal(2, status.Seccomp);
        // Every thread, not only the main one: they all descend from the confined thread.
        foreach (var task in Directory.GetDirectories($"/proc/{run.Pid}/task"))
            Assert.True(ConfinementStatus.Read(Path.Combine(task, "status")).Seccomp == 2, task);
        Assert.NotEqual(MountNamespace.Of(Environment.ProcessId), MountNamespace.Of(run.Pid));

        System.Diagnostics.Process.GetProcessById(run.Pid).Kill(entireProcessTree: false);
        var result = await run.WaitAsync();
        Assert.NotEqual(0, result.ExitCode);
    }

    [Fact]
    public async Task SIGTERM_must_end_the_guest_with_143_and_report_it()
    {
        using var run = Start("sleep", ["sleep", "30"], seccomp: "kill");
        await ConfinedStatusAsync(run.Pid);
        Assert.Equal(0, Libc.Kill(run.Pid, 15));
        var result = await run.WaitAsync();
        Assert.True(result.ExitCode == 143, result.Describe());
        Assert.Equal("exit 143", result.Report);
    }

    [Fact]
    public async Task A_guest_that_cannot_start_must_be_reported_as_an_error()
    {
        File.WriteAllText(Path.Combine(_temp.Path, "junk.wasm"), "not wasm at all");
        using var run = GuestHostRun.Start(GuestHostRun.GuestHost, _rootfs, Path.Combine(_temp.Path, "junk.wasm"), ReportPath(), ["-seccomp", "kill"], ["junk"]);
        var result = await run.WaitAsync();
        Assert.True(result.ExitCode == 255, result.Describe());
        Assert.StartsWith("error invalid wasm module", result.Report, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stage_two_run_directly_as_root_must_refuse_to_run_the_guest()
    {
        using var run = GuestHostRun.Start(GuestHostRun.GuestHost, _rootfs, GuestHostRun.Guest("hello"), ReportPath(), ["-stage2"], ["hello"]);
        var result = await run.WaitAsync();
        Assert.True(result.ExitCode == 255, result.Describe());
        Assert.StartsWith("error refusing to run guests unconfined", result.Report, StringComparison.Ordinal);
        Assert.Equal("", result.Stdout);
    }

    [Theory]
    [InlineData("-uid 0", "neither 0")]
    [InlineData("-rootfs-fd 1", "not a descriptor above 2")]
    [InlineData("-seccomp maybe", "use errno, kill or log")]
    [InlineData("-bogus", "unknown guest-host flag")]
    public async Task Bad_flags_must_be_refused_with_a_reason(string flag, string reason)
    {
        using var run = GuestHostRun.Start(GuestHostRun.GuestHost, _rootfs, GuestHostRun.Guest("hello"), ReportPath(), flag.Split(' '), ["hello"]);
        var result = await run.WaitAsync();
        Assert.True(result.ExitCode == 2, result.Describe());
        Assert.Contains(reason, result.Stderr, StringComparison.Ordinal);
        Assert.NotEqual(KilledBySigsys, result.ExitCode);
    }

    private GuestHostRun Start(string guest, IReadOnlyList<string> args, string seccomp, string? stdin = null, string[]? extra = null) =>
        GuestHostRun.Start(GuestHostRun.GuestHost, _rootfs, GuestHostRun.Guest(guest), ReportPath(), ["-seccomp", seccomp, .. extra ?? []], args, stdin);

    private async Task<GuestHostResult> RunAsync(string guest, IReadOnlyList<string> args, string seccomp, string? stdin = null, string[]? extra = null)
    {
        using var run = Start(guest, args, seccomp, stdin, extra);
        return await run.WaitAsync();
    }

    private string ReportPath() => Path.Combine(_temp.Path, "report-" + Guid.NewGuid().ToString("N")[..8]);

    /// <summary>Waits until the guest host has installed its filter (stage 2 under way) and returns its status.</summary>
    internal static async Task<ConfinementStatus> ConfinedStatusAsync(int pid)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (true)
        {
            var status = ConfinementStatus.Read($"/proc/{pid}/status");
            if (status.Seccomp == 2)
                return status;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"guest host {pid} never installed its filter: {status}");
            await Task.Delay(10);
        }
    }

    private static void Chown(string path)
    {
        if (Libc.Chown(path, GuestHostRun.Uid, GuestHostRun.Uid) != 0)
            throw new IOException("chown " + path.ToString(CultureInfo.InvariantCulture) + " failed");
    }
}
