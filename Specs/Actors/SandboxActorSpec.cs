using System.Diagnostics;
using Akka.Actor;
using Akka.TestKit.Xunit2;
using WasmKata.Actors;
using WasmKata.Actors.Events;
using WasmKata.Actors.Sandbox;
using WasmKata.Core;
using WasmKata.Engine;
using WasmKata.Linux.Io;
using Xunit;
using Xunit.Abstractions;
using static WasmKata.Actors.TaskProtocol;

namespace WasmKata.Specs.Actors;

public sealed class SandboxActorSpec : TestKit
{
    private static readonly TimeSpan Long = TimeSpan.FromSeconds(10);
    private readonly WasmEngine _engine = new(new EngineOptions());
    private readonly RecordingEventSink _sink = new();
    private readonly List<TestBundle> _bundles = [];
    private readonly ShutdownProbe _lifetime = new();
    private readonly IActorRef _sandbox;
    private readonly string _stateRoot = Directory.CreateTempSubdirectory("wk-state-").FullName;

    public SandboxActorSpec(ITestOutputHelper output) : base("akka.loglevel = DEBUG", output)
    {
        _sandbox = Sys.ActorOf(SandboxProtocol.Props(_engine, _sink, new RuntimeSettings { Namespace = "spec", StateRoot = _stateRoot, ReapOrphans = false }, _lifetime), "sandbox");
    }

    protected override void AfterAll()
    {
        base.AfterAll();

        // TestKit stops the actor system only after this: stop it first, or a container still shutting down writes its
        // state while the directory is being deleted.
        Shutdown();
        foreach (var bundle in _bundles)
            bundle.Dispose();
        _engine.Dispose();
        Directory.Delete(_stateRoot, recursive: true);
    }

    private TestBundle Bundle(string wat, string[]? args = null)
    {
        var bundle = new TestBundle(wat, args);
        _bundles.Add(bundle);
        return bundle;
    }

    private async Task<T> Ask<T>(object command) => (T)await Ask(command, typeof(T));

    private async Task<object> Ask(object command, Type expected)
    {
        var reply = await _sandbox.Ask<object>(command, Long);
        Assert.True(expected.IsInstanceOfType(reply), $"expected {expected.Name}, got {reply}");
        return reply;
    }

    private async Task<uint> Create(string id, TestBundle bundle, string stdin = "") =>
        (await Ask<Created>(new CreateTask(id, bundle.Path, [], new Stdio(stdin, bundle.StdoutUri, "", false)))).Pid;

    [Fact]
    public async Task A_guest_must_run_through_create_start_wait_delete_with_events_in_order()
    {
        var bundle = Bundle(Wat.PrintAndExit("hello\n", 0));
        var pid = await Create("c1", bundle);
        Assert.True(pid > 0);
        Assert.Equal(ProcessStatus.Created, (await Ask<ProcessView>(new QueryState("c1", ""))).Status);

        var wait = _sandbox.Ask<object>(new WaitTask("c1", ""), Long);
        await Ask<Started>(new StartTask("c1", ""));
        var exited = Assert.IsType<Exited>(await wait);
        Assert.Equal(0u, exited.ExitStatus);
        Assert.Equal("hello\n", bundle.Stdout);
        Assert.Equal(ProcessStatus.Stopped, (await Ask<ProcessView>(new QueryState("c1", ""))).Status);

        await Ask<Exited>(new DeleteTask("c1", ""));
        await AwaitAssertAsync(() => Assert.Equal(["/tasks/create", "/tasks/start", "/tasks/exit", "/tasks/delete"], _sink.TopicsFor("c1")));
        Assert.True((await Ask<ShutdownAnswer>(new RequestShutdown())).Exiting);
    }

    [Fact]
    public async Task Sigterm_must_kill_the_guests_publish_their_exits_and_then_exit()
    {
        var spinning = Bundle(Wat.Spin);
        await Create("term1", spinning);
        await Ask<Started>(new StartTask("term1", ""));
        await Create("term2", Bundle(Wat.Sleep));
        await Ask<Started>(new StartTask("term2", ""));
        _sandbox.Tell(new WasmKata.Actors.Signals.SignalWatcherProtocol.ShutdownSignalled(System.Runtime.InteropServices.PosixSignal.SIGTERM));
        await _lifetime.Exit.WaitAsync(Long);
        var exits = _sink.Events.OfType<TaskExited>().Where(e => e.ContainerId.StartsWith("term")).ToList();
        Assert.Equal(2, exits.Count);
        Assert.All(exits, e => Assert.Equal(137u, e.ExitStatus));
        Assert.Equal("spinning\n", spinning.Stdout);
        var refused = Assert.IsType<CommandFailed>(await _sandbox.Ask<object>(new CreateTask("late", spinning.Path, [], Stdio.None), Long));
        Assert.Equal(FailureCode.Unavailable, refused.Code);
    }

    [Fact]
    public async Task A_second_sigterm_while_stopping_must_change_nothing_and_the_shim_must_exit_once()
    {
        var spinning = Bundle(Wat.Spin);
        await Create("again1", spinning);
        await Ask<Started>(new StartTask("again1", ""));
        var sigterm = new WasmKata.Actors.Signals.SignalWatcherProtocol.ShutdownSignalled(System.Runtime.InteropServices.PosixSignal.SIGTERM);
        _sandbox.Tell(sigterm);
        _sandbox.Tell(sigterm);
        await _lifetime.Exit.WaitAsync(Long);
        // Give a wrongly restarted stop the time to kill, wait and exit a second time.
        await Task.Delay(TimeSpan.FromMilliseconds(500));
        Assert.Equal(1, _lifetime.ExitRequests);
        Assert.Single(_sink.Events.OfType<TaskExited>(), e => e.ContainerId == "again1");
        // While stopping a Create is still checked first, then refused as unavailable.
        Assert.Equal(FailureCode.InvalidArgument, Assert.IsType<CommandFailed>(await _sandbox.Ask<object>(new CreateTask("a/b", spinning.Path, [], Stdio.None), Long)).Code);
        Assert.Equal(FailureCode.Unavailable, Assert.IsType<CommandFailed>(await _sandbox.Ask<object>(new CreateTask("late", spinning.Path, [], Stdio.None), Long)).Code);
        // Other commands are routed as while serving.
        Assert.Equal(ProcessStatus.Stopped, (await Ask<ProcessView>(new QueryState("again1", ""))).Status);
    }

    [Fact]
    [Trait("Requires", "root")]
    public async Task Guests_of_a_sandbox_must_share_its_own_uts_ipc_and_network_namespaces()
    {
        var first = new TestBundle(Wat.Sleep, hostname: "wk-sandbox", namespaces: ["uts", "ipc", "network", "pid", "mount"]);
        _bundles.Add(first);
        var firstPid = await Create("ns1", first);
        await Ask<Started>(new StartTask("ns1", ""));
        var secondPid = await Create("ns2", Bundle(Wat.Sleep));
        await Ask<Started>(new StartTask("ns2", ""));
        foreach (var ns in new[] { "uts", "ipc", "net" })
        {
            var shim = new FileInfo($"/proc/self/ns/{ns}").LinkTarget;
            var guest = new FileInfo($"/proc/self/task/{firstPid}/ns/{ns}").LinkTarget;
            Assert.StartsWith(ns + ":[", guest);
            Assert.NotEqual(shim, guest);
            Assert.Equal(guest, new FileInfo($"/proc/self/task/{secondPid}/ns/{ns}").LinkTarget);
        }
        var hostname = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo(
            "nsenter", [$"--uts=/proc/{Environment.ProcessId}/task/{firstPid}/ns/uts", "hostname"])
        { RedirectStandardOutput = true })!;
        Assert.Equal("wk-sandbox", (await hostname.StandardOutput.ReadToEndAsync()).Trim());
        Assert.NotEqual("wk-sandbox", Environment.MachineName);
        await Ask<Done>(new KillTask("ns1", "", 9, true));
        await Ask<Done>(new KillTask("ns2", "", 9, true));
    }

    [Fact]
    public async Task Hooks_must_run_at_their_points_with_the_state_on_stdin()
    {
        var bundle = Bundle(Wat.PrintAndExit("x", 0));
        string Out(string name) => Path.Combine(bundle.Path, name);
        bundle.AddHooks("createRuntime", $"cat > {Out("createRuntime.json")}");
        bundle.AddHooks("startContainer", $"cat > {Out("startContainer.json")}");
        bundle.AddHooks("poststop", $"cat > {Out("poststop.json")}");
        var pid = await Create("hooked", bundle);
        var created = WasmKata.Core.Hooks.OciState.Parse(File.ReadAllText(Out("createRuntime.json")));
        Assert.Equal(("hooked", WasmKata.Core.Hooks.OciStatus.Creating, (int)pid, bundle.Path), (created.Id, created.Status, created.Pid, created.Bundle));
        Assert.False(File.Exists(Out("startContainer.json")));
        await Ask<Started>(new StartTask("hooked", ""));
        Assert.Equal(WasmKata.Core.Hooks.OciStatus.Created, WasmKata.Core.Hooks.OciState.Parse(File.ReadAllText(Out("startContainer.json"))).Status);
        await Ask<Exited>(new WaitTask("hooked", ""));
        await Ask<Exited>(new DeleteTask("hooked", ""));
        await AwaitAssertAsync(() => Assert.Equal(WasmKata.Core.Hooks.OciStatus.Stopped,
            WasmKata.Core.Hooks.OciState.Parse(File.ReadAllText(Out("poststop.json"))).Status), Long);
    }

    [Fact]
    public async Task A_failing_create_hook_must_fail_create_with_its_error_and_leave_nothing()
    {
        var bundle = Bundle(Wat.Sleep);
        bundle.AddHooks("createContainer", "echo no network for you >&2; exit 3");
        var failure = Assert.IsType<CommandFailed>(await _sandbox.Ask<object>(new CreateTask("badhook", bundle.Path, [], Stdio.None), Long));
        Assert.Contains("createContainer", failure.Message);
        Assert.Contains("no network for you", failure.Message);
        Assert.Equal(FailureCode.NotFound, Assert.IsType<CommandFailed>(await _sandbox.Ask<object>(new QueryState("badhook", ""), Long)).Code);
        Assert.False(Directory.Exists(new WasmKata.Core.State.StateStore(_stateRoot).DirectoryOf("spec", "badhook")));
    }

    [Fact]
    public async Task A_failing_start_hook_must_fail_start_and_end_the_container()
    {
        var bundle = Bundle(Wat.Sleep);
        bundle.AddHooks("startContainer", "exit 1");
        await Create("badstart", bundle);
        var failure = Assert.IsType<CommandFailed>(await _sandbox.Ask<object>(new StartTask("badstart", ""), Long));
        Assert.Contains("startContainer", failure.Message);
        Assert.Equal(137u, (await Ask<Exited>(new WaitTask("badstart", ""))).ExitStatus);
    }

    [Fact]
    public async Task State_must_be_saved_while_the_container_lives_and_removed_on_delete()
    {
        var store = new WasmKata.Core.State.StateStore(_stateRoot);
        var bundle = Bundle(Wat.PrintAndExit("x", 7));
        var pid = await Create("saved", bundle);
        var created = store.Load("spec", "saved");
        Assert.NotNull(created);
        Assert.Equal(("created", pid, bundle.Path, Environment.ProcessId), (created.Status, created.InitPid, created.Bundle, created.ShimPid));
        await Ask<Started>(new StartTask("saved", ""));
        await Ask<Exited>(new WaitTask("saved", ""));
        await AwaitAssertAsync(() => Assert.Equal(7u, store.Load("spec", "saved")?.ExitStatus));
        Assert.Equal("stopped", store.Load("spec", "saved")!.Status);
        await Ask<Exited>(new DeleteTask("saved", ""));
        Assert.Null(store.Load("spec", "saved"));
        Assert.False(Directory.Exists(store.DirectoryOf("spec", "saved")));
    }

    [Fact]
    public async Task A_failed_create_must_leave_no_state()
    {
        var bad = Bundle(Wat.Trap);
        File.WriteAllText(Path.Combine(bad.Rootfs, "app.wasm"), "junk");
        Assert.IsType<CommandFailed>(await _sandbox.Ask<object>(new CreateTask("nostate", bad.Path, [], Stdio.None), Long));
        await AwaitAssertAsync(() => Assert.False(Directory.Exists(new WasmKata.Core.State.StateStore(_stateRoot).DirectoryOf("spec", "nostate"))));
    }

    [Theory]
    [InlineData(3)]
    [InlineData(126)]
    [InlineData(255)]
    public async Task Exit_codes_must_reach_wait_unchanged(int code)
    {
        var id = $"exit{code}";
        await Create(id, Bundle(Wat.PrintAndExit("x", code)));
        await Ask<Started>(new StartTask(id, ""));
        Assert.Equal((uint)code, (await Ask<Exited>(new WaitTask(id, ""))).ExitStatus);
    }

    [Fact]
    public async Task A_trap_must_end_the_guest_with_a_nonzero_status()
    {
        await Create("trap", Bundle(Wat.Trap));
        await Ask<Started>(new StartTask("trap", ""));
        Assert.NotEqual(0u, (await Ask<Exited>(new WaitTask("trap", ""))).ExitStatus);
    }

    [Theory]
    [InlineData("spin", 9, 137u)]
    [InlineData("sleep", 9, 137u)]
    [InlineData("sleep", 15, 143u)]
    public async Task Kill_must_end_a_running_guest_with_128_plus_signal(string guest, int signal, uint status)
    {
        var bundle = Bundle(guest == "spin" ? Wat.Spin : Wat.Sleep);
        var id = $"kill-{guest}-{signal}";
        await Create(id, bundle);
        await Ask<Started>(new StartTask(id, ""));
        await AwaitAssertAsync(() => Assert.NotEqual("", bundle.Stdout), Long);
        var watch = Stopwatch.StartNew();
        var wait = _sandbox.Ask<object>(new WaitTask(id, ""), Long);
        await Ask<Done>(new KillTask(id, "", signal, false));
        var exited = Assert.IsType<Exited>(await wait);
        Assert.Equal(status, exited.ExitStatus);
        Assert.True(watch.ElapsedMilliseconds < 1000, $"kill took {watch.ElapsedMilliseconds} ms");
        var again = Assert.IsType<CommandFailed>(await _sandbox.Ask<object>(new KillTask(id, "", 9, false), Long));
        Assert.Equal(FailureCode.NotFound, again.Code);
    }

    [Fact]
    public async Task Exec_must_run_beside_init_and_report_its_own_exit()
    {
        var bundle = Bundle(Wat.Sleep);
        await Create("ex", bundle);
        await Ask<Started>(new StartTask("ex", ""));
        var execJson = """{"args":["/app.wasm"],"env":[],"cwd":"/"}""";
        // The exec runs the same module (sleep), so end it by signal and check its status is its own.
        await Ask<Done>(new AddExec("ex", "e1", execJson, Stdio.None));
        Assert.IsType<CommandFailed>(await _sandbox.Ask<object>(new AddExec("ex", "e1", execJson, Stdio.None), Long));
        await Ask<Started>(new StartTask("ex", "e1"));
        var pids = await Ask<PidList>(new ListPids("ex"));
        Assert.Equal(2, pids.Processes.Count);
        await Ask<Done>(new KillTask("ex", "e1", 15, false));
        Assert.Equal(143u, (await Ask<Exited>(new WaitTask("ex", "e1"))).ExitStatus);
        Assert.Equal(ProcessStatus.Running, (await Ask<ProcessView>(new QueryState("ex", ""))).Status);
        await Ask<Exited>(new DeleteTask("ex", "e1"));
        await Ask<Done>(new KillTask("ex", "", 9, true));
        Assert.Equal(137u, (await Ask<Exited>(new WaitTask("ex", ""))).ExitStatus);
        await AwaitAssertAsync(() => Assert.Equal(
            ["/tasks/create", "/tasks/start", "/tasks/exec-added", "/tasks/exec-started", "/tasks/exit", "/tasks/exit"],
            _sink.TopicsFor("ex")));
    }

    [Fact]
    public async Task When_init_exits_running_execs_must_be_killed_and_reported_first()
    {
        await Create("ordered", Bundle(Wat.Sleep));
        await Ask<Started>(new StartTask("ordered", ""));
        await Ask<Done>(new AddExec("ordered", "e1", """{"args":["/app.wasm"],"cwd":"/"}""", Stdio.None));
        await Ask<Started>(new StartTask("ordered", "e1"));
        await Ask<Done>(new KillTask("ordered", "", 9, false));
        Assert.Equal(137u, (await Ask<Exited>(new WaitTask("ordered", "e1"))).ExitStatus);
        await Ask<Exited>(new WaitTask("ordered", ""));
        await AwaitAssertAsync(() =>
        {
            var exits = _sink.Events.OfType<TaskExited>().Where(e => e.ContainerId == "ordered").Select(e => e.Id).ToList();
            Assert.Equal(["e1", "ordered"], exits);
        });
    }

    [Fact]
    public async Task A_bad_module_must_fail_create_and_leave_siblings_running()
    {
        var good = Bundle(Wat.Sleep);
        await Create("sibling", good);
        await Ask<Started>(new StartTask("sibling", ""));
        var bad = Bundle(Wat.Trap);
        File.WriteAllText(Path.Combine(bad.Rootfs, "app.wasm"), "this is not wasm");
        var failure = Assert.IsType<CommandFailed>(await _sandbox.Ask<object>(
            new CreateTask("bad", bad.Path, [], Stdio.None), Long));
        Assert.Equal(FailureCode.InvalidArgument, failure.Code);
        Assert.Contains("app.wasm", failure.Message);
        await Create("trapper", Bundle(Wat.Trap));
        await Ask<Started>(new StartTask("trapper", ""));
        await Ask<Exited>(new WaitTask("trapper", ""));
        Assert.Equal(ProcessStatus.Running, (await Ask<ProcessView>(new QueryState("sibling", ""))).Status);
        Assert.Equal(FailureCode.NotFound, Assert.IsType<CommandFailed>(await _sandbox.Ask<object>(new QueryState("bad", ""), Long)).Code);
    }

    [Fact]
    public async Task Delete_of_a_running_container_must_be_refused_and_shutdown_must_wait()
    {
        await Create("busy", Bundle(Wat.Spin));
        await Ask<Started>(new StartTask("busy", ""));
        var failure = Assert.IsType<CommandFailed>(await _sandbox.Ask<object>(new DeleteTask("busy", ""), Long));
        Assert.Equal(FailureCode.FailedPrecondition, failure.Code);
        Assert.False((await Ask<ShutdownAnswer>(new RequestShutdown())).Exiting);
        await Ask<Done>(new KillTask("busy", "", 9, true));
        await Ask<Exited>(new WaitTask("busy", ""));
        await Ask<Exited>(new DeleteTask("busy", ""));
        Assert.True((await Ask<ShutdownAnswer>(new RequestShutdown())).Exiting);
    }

    [Fact]
    public async Task Shutdown_asked_as_soon_as_delete_answers_must_find_no_container_left()
    {
        // containerd calls Shutdown the moment Delete returns: a sandbox that still held the deleted container refused
        // it, and the daemon outlived its last container. Many rounds, because the old order lost only now and then.
        var bundle = Bundle(Wat.PrintAndExit("", 0));
        for (var round = 0; round < 40; round++)
        {
            var id = $"again-{round}";
            await Create(id, bundle);
            var wait = _sandbox.Ask<object>(new WaitTask(id, ""), Long);
            await Ask<Started>(new StartTask(id, ""));
            Assert.IsType<Exited>(await wait);
            await Ask<Exited>(new DeleteTask(id, ""));
            Assert.True((await Ask<ShutdownAnswer>(new RequestShutdown())).Exiting, $"round {round}: Shutdown refused after Delete answered");
        }
    }

    [Fact]
    public async Task Deleting_a_created_container_must_end_its_guest()
    {
        await Create("never", Bundle(Wat.Spin));
        var deleted = await Ask<Exited>(new DeleteTask("never", ""));
        Assert.Equal(137u, deleted.ExitStatus);
        Assert.IsType<CommandFailed>(await _sandbox.Ask<object>(new QueryState("never", ""), Long));
    }

    [Theory]
    [InlineData("")]
    [InlineData("a/b")]
    [InlineData("..")]
    [InlineData("x\0y")]
    public async Task Bad_ids_must_be_refused(string id)
    {
        var failure = Assert.IsType<CommandFailed>(await _sandbox.Ask<object>(new CreateTask(id, "/nonexistent", [], Stdio.None), Long));
        Assert.Equal(FailureCode.InvalidArgument, failure.Code);
    }

    [Fact]
    public async Task A_missing_bundle_must_fail_create_clearly()
    {
        var failure = Assert.IsType<CommandFailed>(await _sandbox.Ask<object>(new CreateTask("nobundle", "/nonexistent/bundle", [], Stdio.None), Long));
        Assert.Equal(FailureCode.InvalidArgument, failure.Code);
        Assert.Contains("config.json", failure.Message);
    }

    [Fact]
    public async Task Stdin_from_a_fifo_must_reach_the_guest_and_its_eof_end_it()
    {
        var bundle = Bundle(Wat.Cat);
        var fifo = Path.Combine(bundle.Path, "stdin");
        Fifo.Create(fifo);
        await Create("cat", bundle, stdin: fifo);
        await Ask<Started>(new StartTask("cat", ""));
        await using (var writer = new FileStream(fifo, FileMode.Open, FileAccess.Write))
            await writer.WriteAsync("through the pipe\n"u8.ToArray());
        Assert.Equal(0u, (await Ask<Exited>(new WaitTask("cat", ""))).ExitStatus);
        Assert.Equal("through the pipe\n", bundle.Stdout);
    }

    [Fact]
    public async Task Unknown_containers_must_be_not_found_but_connect_must_answer()
    {
        Assert.Equal(FailureCode.NotFound, Assert.IsType<CommandFailed>(await _sandbox.Ask<object>(new StartTask("ghost", ""), Long)).Code);
        var connected = await Ask<Connected>(new ConnectTask("ghost"));
        Assert.Equal((uint)Environment.ProcessId, connected.ShimPid);
        Assert.Equal(0u, connected.TaskPid);
    }

    private sealed class ShutdownProbe : IShimLifetime
    {
        private readonly TaskCompletionSource _exit = new(TaskCreationOptions.RunContinuationsAsynchronously);

        private int _exitRequests;

        public Task Exit => _exit.Task;

        public int ExitRequests => Volatile.Read(ref _exitRequests);

        public void RequestExit()
        {
            Interlocked.Increment(ref _exitRequests);
            _exit.TrySetResult();
        }
    }
}
