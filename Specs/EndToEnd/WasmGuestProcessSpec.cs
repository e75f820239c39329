using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using WasmKata.Linux.Confinement;
using Xunit;
using Xunit.Abstractions;

namespace WasmKata.Specs.EndToEnd;

/// <summary>
/// guest_isolation = "process" through a real containerd: every guest (init and exec) runs in a confined guest host
/// process of its own, so a kill ends a guest blocked anywhere (SIGKILL of its process), and a guest host that dies
/// turns into exit 255. The task's pid is the guest host's.
/// </summary>
[Collection(EndToEndCollection.Name)]
[Trait("Category", "EndToEnd")]
[Trait("Requires", "root")]
[Trait("Runtime", "wasmkata")]
public sealed class WasmGuestProcessSpec
{
    // The block of the sandboxes' id ranges (guest_uid_base, 65536 ids each): a guest host runs as a range's first id.
    private const uint GuestUidBase = 2_100_000;

    // From `ctr task kill` returning to the guest host's pid being gone. The kill is sent before the shim answers, so
    // what is left is the kernel ending the process (and, for SIGTERM of a component, the 50 ms grace).
    private static readonly TimeSpan KillBudget = TimeSpan.FromMilliseconds(100);

    private readonly ContainerdFixture _fixture;
    private readonly ITestOutputHelper _output;
    private readonly string _config;

    public WasmGuestProcessSpec(ContainerdFixture fixture, ITestOutputHelper output)
    {
        _fixture = fixture;
        _output = output;
        _config = Path.Combine(fixture.RunDir, "guest-process.toml");
        // A system call off the guest host's list kills it (SIGSYS, exit 255 and a log line) instead of failing quietly.
        File.WriteAllText(_config, "[wasmkata]\nguest_isolation = \"process\"\nguest_host_seccomp = \"kill\"\n");
    }

    private Ctr Ctr => _fixture.Ctr;

    [Fact]
    public async Task Hello_must_print_its_greeting_byte_exact_from_a_guest_host()
    {
        var run = await RunAsync(new WasmImage("hello"), "gp-hello");

        Assert.True(run.ExitCode == 0, Ctr.Explain(run));
        Assert.True(run.StdoutText == "hello from wasm\n", Ctr.Explain(run));
    }

    [Fact]
    public async Task Args_and_env_must_reach_the_guest_exactly()
    {
        var image = new WasmImage("args") { Env = ["FROM_IMAGE=image value"] };

        var run = await RunAsync(image, "gp-args", ["--env", "K=V", "--env", "EQUALS=a=b", "--env", "EMPTY="], ["/app.wasm", "a", "b c", "--flag=x"]);

        string[] expected = ["/app.wasm", "a", "b c", "--flag=x", "FROM_IMAGE=image value", "K=V", "EQUALS=a=b", "EMPTY="];
        Assert.True(run.ExitCode == 0, Ctr.Explain(run));
        Assert.True(run.StdoutText == string.Join('\n', expected) + "\n", $"expected lines:\n{string.Join('\n', expected)}\n{Ctr.Explain(run)}");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    [InlineData(255)]
    public async Task Exit_must_become_ctr_exit_status(int code)
    {
        var run = await RunAsync(new WasmImage("exitcode"), "gp-exit", command: ["/app.wasm", $"{code}"]);

        Assert.True(run.StdoutText == $"exiting with {code}\n", Ctr.Explain(run));
        Assert.True(run.ExitCode == code, $"expected exit {code}\n{Ctr.Explain(run)}");
    }

    [Fact]
    public async Task A_trap_must_end_the_task_with_134()
    {
        var run = await RunAsync(new WasmImage("trap"), "gp-trap");

        Assert.True(run.StdoutText == "trapping\n", Ctr.Explain(run));
        Assert.True(run.ExitCode == 134, Ctr.Explain(run));
    }

    [Fact]
    public async Task A_junk_module_must_fail_create_with_the_engines_message()
    {
        // The wasm magic and version, then junk: the shim takes it for wasm, the engine refuses it.
        var image = new WasmImage("hello") { Binaries = new Dictionary<string, byte[]> { ["/junk.wasm"] = "\0asm\u0001\0\0\0 this is junk"u8.ToArray() } };

        var run = await RunAsync(image, "gp-junk", command: ["/junk.wasm"]);

        Assert.True(run.ExitCode != 0, Ctr.Explain(run));
        Assert.True(run.Stderr.Contains("invalid wasm module", StringComparison.Ordinal), Ctr.Explain(run));
    }

    [Fact]
    public async Task Bigout_must_deliver_64_MiB_byte_exact_through_the_guest_hosts_pipe()
    {
        const int mebibytes = 64;

        var run = await RunAsync(new WasmImage("bigout"), "gp-bigout", command: ["/app.wasm", $"{mebibytes}"], timeout: TimeSpan.FromMinutes(2));

        var summary = $"exit {run.ExitCode}, {run.Stdout.Length} bytes on stdout, stderr: {run.Stderr}\n" + _fixture.LogTail();
        Assert.True(run.ExitCode == 0, summary);
        Assert.True(run.Stdout.Length == mebibytes << 20, summary);
        Assert.True(SHA256.HashData(run.Stdout).AsSpan().SequenceEqual(Bigout.Sha256(mebibytes)), "wrong bytes\n" + summary);
    }

    [Fact]
    public async Task Stdin_must_reach_the_guest_intact()
    {
        var input = new byte[1024 * 1024];
        new Random(11).NextBytes(input);

        var run = await RunAsync(new WasmImage("cat"), "gp-cat", stdin: input);

        Assert.True(run.ExitCode == 0, Ctr.Explain(run));
        Assert.True(run.Stdout.AsSpan().SequenceEqual(input), $"stdout differs from the {input.Length} bytes fed in\n{Ctr.Explain(run)}");
    }

    [Theory]
    [InlineData("spin", "spinning", "SIGKILL", 137)]
    [InlineData("spin", "spinning", "SIGTERM", 143)]
    [InlineData("sleep.component", "sleeping", "SIGKILL", 137)]
    [InlineData("sleep.component", "sleeping", "SIGTERM", 143)]
    public async Task Kill_must_end_the_guest_host_at_once_and_report_128_plus_the_signal(string guest, string ready, string signal, int status)
    {
        var image = await _fixture.Images.WasmAsync(new WasmImage(guest));
        var id = ContainerdFixture.NewId("gp-kill");
        using var foreground = Ctr.Start(Ctr.RunArgs(Ctr.WasmRuntime, image, id, Options(), "/app.wasm", "3600"));
        try
        {
            await WaitForOutputAsync(foreground, ready);
            var pid = await InitPidAsync(id);
            Assert.True(IsGuestHost(pid), $"pid {pid} of task {id} is not a guest host");

            var (killCall, gone) = await KillAsync(id, signal, pid);
            var run = await foreground.WaitAsync(TimeSpan.FromSeconds(20), () => _fixture.LogTail());

            _output.WriteLine($"{guest} {signal}: ctr task kill took {killCall.TotalMilliseconds:F0} ms, the guest host was gone {gone.TotalMilliseconds:F0} ms after it returned");
            Assert.True(run.ExitCode == status, $"expected {status}\n{Ctr.Explain(run)}");
            Assert.True(gone < KillBudget, $"the guest host was gone {gone.TotalMilliseconds:F0} ms after the kill returned");
        }
        finally
        {
            foreground.Kill();
            await Ctr.ForceRemoveAsync(id);
        }
    }

    [Fact]
    public async Task Kill_must_end_a_component_blocked_reading_stdin()
    {
        var image = await _fixture.Images.WasmAsync(new WasmImage("cat.component"));
        var id = ContainerdFixture.NewId("gp-stdin");
        // ctr's stdin stays open and empty for 5 s (a sleep holds the pipe's other end): the guest blocks in its read.
        // ctr itself leaves only once its stdin ends; a guest not killed would read that EOF and exit 0.
        string[] script = ["-c", "exec \"$@\" < <(sleep 5)", "bash", .. Ctr.CommandLine, .. Ctr.RunArgs(Ctr.WasmRuntime, image, id, Options())];
        using var foreground = ChildProcess.Start("bash", script);
        try
        {
            await Ctr.WaitForTaskStatusAsync(id, "RUNNING", TimeSpan.FromSeconds(20));
            var pid = await InitPidAsync(id);
            await Task.Delay(500);
            Assert.False(foreground.HasExited, "cat ended before the kill");

            var (_, gone) = await KillAsync(id, "SIGKILL", pid);
            var run = await foreground.WaitAsync(TimeSpan.FromSeconds(20), () => _fixture.LogTail());

            Assert.True(run.ExitCode == 137, Ctr.Explain(run));
            Assert.True(gone < KillBudget, $"the guest host was gone {gone.TotalMilliseconds:F0} ms after the kill returned");
        }
        finally
        {
            foreground.Kill();
            await Ctr.ForceRemoveAsync(id);
        }
    }

    [Fact]
    public async Task Pause_must_stop_the_guest_host_and_resume_must_let_it_run_on()
    {
        await using var container = await StartDetachedAsync(new WasmImage("spin"), "gp-pause", "/app.wasm");
        var pid = await InitPidAsync(container.Id);

        var pause = await Ctr.RunAsync("task", "pause", container.Id);
        Assert.True(pause.ExitCode == 0, Ctr.Explain(pause));
        Assert.Equal("PAUSED", await Ctr.TaskStatusAsync(container.Id));
        Assert.Equal('T', State(pid));
        var pausedFrom = CpuTicks(pid);
        await Task.Delay(500);
        Assert.True(CpuTicks(pid) == pausedFrom, "the paused guest host used CPU");

        var resume = await Ctr.RunAsync("task", "resume", container.Id);
        Assert.True(resume.ExitCode == 0, Ctr.Explain(resume));
        var status = await Ctr.TaskStatusAsync(container.Id);
        Assert.True(status == "RUNNING", $"{status} after resume\n{_fixture.LogTail(40)}");
        var resumedFrom = CpuTicks(pid);
        await Task.Delay(500);
        Assert.True(CpuTicks(pid) > resumedFrom, "the resumed guest host did not run");
    }

    [Fact]
    public async Task An_exec_must_run_in_a_guest_host_of_its_own_beside_the_running_init()
    {
        var image = new WasmImage("sleep") { Guests = new Dictionary<string, string> { ["/bin/args.wasm"] = "args" } };
        await using var container = await StartDetachedAsync(image, "gp-exec", "/app.wasm", "3600");

        var exec = await Ctr.RunAsync("task", "exec", "--exec-id", "e1", container.Id, "/bin/args.wasm", "x y");

        Assert.True(exec.ExitCode == 0, Ctr.Explain(exec));
        Assert.True(exec.StdoutText.StartsWith("/bin/args.wasm\nx y\n", StringComparison.Ordinal), Ctr.Explain(exec));
        Assert.Equal("RUNNING", await Ctr.TaskStatusAsync(container.Id));
    }

    [Fact]
    public async Task Ended_execs_must_leave_the_daemon_no_descriptor_of_their_guest_hosts()
    {
        var image = new WasmImage("sleep") { Guests = new Dictionary<string, string> { ["/bin/hello.wasm"] = "hello" } };
        await using var container = await StartDetachedAsync(image, "gp-fds", "/app.wasm", "3600");
        var daemon = ParentOf(await InitPidAsync(container.Id));

        for (var i = 0; i < 5; i++)
        {
            var exec = await Ctr.RunAsync("task", "exec", "--exec-id", $"h{i}", container.Id, "/bin/hello.wasm");
            Assert.True(exec.ExitCode == 0 && exec.StdoutText == "hello from wasm\n", Ctr.Explain(exec));
        }

        // Only the running init's guest host is still watched through a pidfd; its pipes are the daemon's only others.
        var pidfds = Directory.GetFiles($"/proc/{daemon}/fd").Count(fd => new FileInfo(fd).LinkTarget is "anon_inode:[pidfd]");
        Assert.Equal(1, pidfds);
    }

    [Fact]
    public async Task Running_guest_hosts_must_cost_the_daemon_no_thread_each()
    {
        const int execs = 8;
        var image = new WasmImage("sleep");
        await using var container = await StartDetachedAsync(image, "gp-threads", "/app.wasm", "3600");
        var daemon = ParentOf(await InitPidAsync(container.Id));
        var before = Threads(daemon);
        var running = new List<ChildProcess>();
        try
        {
            for (var i = 0; i < execs; i++)
            {
                var exec = Ctr.Start(["task", "exec", "--exec-id", $"t{i}", container.Id, "/app.wasm", "3600"]);
                running.Add(exec);
                await WaitForOutputAsync(exec, "sleeping");
            }

            // Their pipes and pidfds wait on the daemon's one epoll thread: a thread per guest host (a report reader
            // and a copy per output, as before the reactor) would add 3 x 8. The slack is the pool's own workers.
            var during = Threads(daemon);
            Assert.True(during <= before + 4, $"daemon {daemon}: {before} threads before {execs} running execs, {during} with them");
        }
        finally
        {
            for (var i = 0; i < running.Count; i++)
                await Ctr.RunAsync("task", "kill", "--exec-id", $"t{i}", "-s", "SIGKILL", container.Id);
            foreach (var exec in running)
                exec.Dispose();
        }
    }

    private static int Threads(int pid) =>
        int.Parse(File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("Threads:", StringComparison.Ordinal))[8..].Trim(),
            System.Globalization.CultureInfo.InvariantCulture);

    [Fact]
    public async Task A_guest_host_killed_by_someone_else_must_end_its_guest_with_255()
    {
        var image = await _fixture.Images.WasmAsync(new WasmImage("sleep"));
        var id = ContainerdFixture.NewId("gp-lost");
        using var foreground = Ctr.Start(Ctr.RunArgs(Ctr.WasmRuntime, image, id, Options(), "/app.wasm", "3600"));
        try
        {
            await WaitForOutputAsync(foreground, "sleeping");
            var pid = await InitPidAsync(id);

            Process.GetProcessById(pid).Kill();
            var run = await foreground.WaitAsync(TimeSpan.FromSeconds(20), () => _fixture.LogTail());

            Assert.True(run.ExitCode == 255, Ctr.Explain(run));
            Assert.True(_fixture.LogTail(200).Contains($"guest host (pid {pid}) failed: killed by signal 9, not sent by the shim", StringComparison.Ordinal),
                "no log line says why\n" + _fixture.LogTail());
        }
        finally
        {
            foreground.Kill();
            await Ctr.ForceRemoveAsync(id);
        }
    }

    [Fact]
    public async Task A_running_guest_host_must_hold_nothing_and_share_the_sandboxs_network_and_cgroup()
    {
        await using var container = await StartDetachedAsync(new WasmImage("sleep"), "gp-status", "/app.wasm", "3600");
        var pid = await InitPidAsync(container.Id);

        var status = ConfinementStatus.Read($"/proc/{pid}/status");
        var shim = ParentOf(pid);

        var uid = status.Uids[0];
        Assert.True(uid >= GuestUidBase && (uid - GuestUidBase) % 65536 == 0, status.ToString());
        Assert.True(status.Uids.All(u => u == uid) && status.Gids.All(g => g == uid), status.ToString());
        Assert.True(status.CapEff == 0 && status.CapPrm == 0 && status.CapBnd == 0 && status.CapAmb == 0, status.ToString());
        Assert.True(status.NoNewPrivs, status.ToString());
        Assert.Equal(2, status.Seccomp);
        Assert.NotEqual(NamespaceOf("self", "net"), NamespaceOf($"{pid}", "net"));
        Assert.NotEqual(NamespaceOf($"{shim}", "mnt"), NamespaceOf($"{pid}", "mnt"));
        Assert.Equal(File.ReadAllText($"/proc/{shim}/cgroup"), File.ReadAllText($"/proc/{pid}/cgroup"));
    }

    [Fact]
    public async Task No_guest_host_must_be_left_after_the_task_is_deleted()
    {
        var image = new WasmImage("sleep") { Guests = new Dictionary<string, string> { ["/bin/nap.wasm"] = "sleep.component" } };
        var container = await StartDetachedAsync(image, "gp-delete", "/app.wasm", "3600");
        var exec = await Ctr.RunAsync("task", "exec", "--detach", "--exec-id", "nap", container.Id, "/bin/nap.wasm", "3600");
        Assert.True(exec.ExitCode == 0, Ctr.Explain(exec));
        var pids = await TaskPidsAsync(container.Id);
        Assert.True(pids.Count == 2 && pids.All(IsGuestHost), $"expected two guest hosts, task ps says {string.Join(",", pids)}");

        await container.DisposeAsync();

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
        while (pids.Any(IsGuestHost) && DateTime.UtcNow < deadline)
            await Task.Delay(20);
        Assert.False(pids.Any(IsGuestHost), $"guest hosts left: {string.Join(",", pids.Where(IsGuestHost))}");
    }

    private string[] Options(params string[] more) => ["--rm", "--runtime-config-path", _config, .. more];

    private async Task<ProcessResult> RunAsync(
        WasmImage image, string prefix, string[]? options = null, string[]? command = null, byte[]? stdin = null, TimeSpan? timeout = null) =>
        await _fixture.RunWasmAsync(image, prefix, Options(options ?? []), command, stdin, timeout);

    private async Task<DetachedContainer> StartDetachedAsync(WasmImage image, string prefix, params string[] command) =>
        await DetachedContainer.StartAsync(Ctr, Ctr.WasmRuntime, await _fixture.Images.WasmAsync(image), prefix,
            ["--runtime-config-path", _config], command);

    /// <summary>Sends SIGNAL with `ctr task kill`; returns how long the call took and how long after it the pid was gone.</summary>
    private async Task<(TimeSpan Call, TimeSpan Gone)> KillAsync(string id, string signal, int pid)
    {
        var clock = Stopwatch.StartNew();
        var kill = await Ctr.RunAsync("task", "kill", "-s", signal, id);
        var call = clock.Elapsed;
        Assert.True(kill.ExitCode == 0, Ctr.Explain(kill));
        var returned = Stopwatch.StartNew();
        while (IsGuestHost(pid) && returned.Elapsed < TimeSpan.FromSeconds(10))
            await Task.Delay(1);
        return (call, returned.Elapsed);
    }

    private async Task<int> InitPidAsync(string id)
    {
        var ls = await Ctr.RunAsync("task", "ls");
        var row = ls.StdoutText.Split('\n').Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)).First(r => r.Length >= 2 && r[0] == id);
        return int.Parse(row[1], CultureInfo.InvariantCulture);
    }

    private async Task<IReadOnlyList<int>> TaskPidsAsync(string id)
    {
        var ps = await Ctr.RunAsync("task", "ps", id);
        Assert.True(ps.ExitCode == 0, Ctr.Explain(ps));
        return Ctr.FirstColumn(ps.StdoutText).Select(p => int.Parse(p, CultureInfo.InvariantCulture)).ToList();
    }

    private async Task WaitForOutputAsync(ChildProcess foreground, string text)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!foreground.StdoutSoFar().Contains(text, StringComparison.Ordinal))
        {
            if (foreground.HasExited || DateTime.UtcNow > deadline)
            {
                foreground.Kill();
                var ended = await foreground.WaitAsync(TimeSpan.FromSeconds(5));
                Assert.Fail($"the guest did not print \"{text}\": {ended.Describe()}\n{_fixture.LogTail()}");
            }
            await Task.Delay(10);
        }
    }

    // A living (not zombie) process in guest-host mode of the shim.
    private static bool IsGuestHost(int pid)
    {
        try
        {
            var argv = File.ReadAllText($"/proc/{pid}/cmdline").Split('\0');
            return argv.Length > 1 && argv[1] == "guest-host" && State(pid) != 'Z';
        }
        catch (IOException)
        {
            return false;
        }
    }

    private static string[] Stat(int pid)
    {
        var text = File.ReadAllText($"/proc/{pid}/stat");
        return text[(text.LastIndexOf(')') + 2)..].Split(' ');
    }

    private static char State(int pid) => Stat(pid)[0][0];

    private static int ParentOf(int pid) => int.Parse(Stat(pid)[1], CultureInfo.InvariantCulture);

    // utime + stime (fields 14 and 15; the split starts at field 3).
    private static long CpuTicks(int pid) =>
        long.Parse(Stat(pid)[11], CultureInfo.InvariantCulture) + long.Parse(Stat(pid)[12], CultureInfo.InvariantCulture);

    private static string NamespaceOf(string pid, string kind) => new FileInfo($"/proc/{pid}/ns/{kind}").LinkTarget ?? "";
}
