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

/// <summary>
/// Faults injected into a real actor tree: a pump that throws, a process or container actor that is killed. Each is
/// handled by supervision (stop, never restart) and the container still gets an exit status; the sandbox serves on.
/// </summary>
public sealed class SupervisionSpec : TestKit
{
    private static readonly TimeSpan Long = TimeSpan.FromSeconds(15);
    private readonly WasmEngine _engine = new(new EngineOptions());
    private readonly RecordingEventSink _sink = new();
    private readonly List<TestBundle> _bundles = [];
    private readonly List<IDisposable> _readers = [];
    private readonly IActorRef _sandbox;
    private readonly string _stateRoot = Directory.CreateTempSubdirectory("wk-state-").FullName;

    public SupervisionSpec(ITestOutputHelper output) : base("akka.loglevel = INFO", output)
    {
        // A long drain timeout: an exit held back by undrained output stays held until the spec acts.
        var settings = new RuntimeSettings { Namespace = "spec", StateRoot = _stateRoot, ReapOrphans = false, DrainTimeout = TimeSpan.FromMinutes(2) };
        _sandbox = Sys.ActorOf(SandboxProtocol.Props(_engine, _sink, settings, new NoExit()), "sandbox");
    }

    /// <summary>Writes <paramref name="kib"/> KiB to stdout in 16 KiB writes, then exits with <paramref name="code"/>.</summary>
    internal static string WriteThenExit(int kib, int code) => $$"""
        (module
          (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
          (memory (export "memory") 1)
          (data (i32.const 0) "\00\04\00\00\00\40\00\00")
          (func (export "_start") (local $i i32)
            (loop $l
              (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
              (local.set $i (i32.add (local.get $i) (i32.const 1)))
              (br_if $l (i32.lt_u (local.get $i) (i32.const {{kib / 16}}))))
            (call $exit (i32.const {{code}}))))
        """;

    protected override void AfterAll()
    {
        base.AfterAll();

        // TestKit stops the actor system only after this: stop it first, or a container still shutting down writes its
        // state while the directory is being deleted.
        Shutdown();
        foreach (var reader in _readers)
            reader.Dispose();
        foreach (var bundle in _bundles)
            bundle.Dispose();
        _engine.Dispose();
        Directory.Delete(_stateRoot, recursive: true);
    }

    [Fact]
    public async Task A_stdout_pump_that_throws_must_be_stopped_and_the_guest_must_still_exit_with_its_own_status()
    {
        // 4 MiB into a FIFO nobody reads: without its pump the guest would block on a full buffer for ever.
        var (bundle, fifo) = BundleWithStalledStdout(WriteThenExit(4096, 3));
        await Create("pumpfail", bundle, fifo);
        var wait = _sandbox.Ask<object>(new WaitTask("pumpfail", ""), Long);
        await Ask<Started>(new StartTask("pumpfail", ""));

        var pump = await Sys.ActorSelection("/user/sandbox/pumpfail-*/init/stdout").ResolveOne(Long);
        Watch(pump);
        pump.Tell(new Status.Failure(new InvalidOperationException("injected pump fault")));

        await ExpectTerminatedAsync(pump, Long);
        var exited = Assert.IsType<Exited>(await wait);
        Assert.Equal(3u, exited.ExitStatus);
        await AwaitAssertAsync(() => Assert.Contains(_sink.Events.OfType<TaskExited>(), e => e.ContainerId == "pumpfail" && e.ExitStatus == 3));
        await Ask<Exited>(new DeleteTask("pumpfail", ""));
        await AssertStillServingAsync();
    }

    [Fact]
    public async Task A_process_actor_that_fails_after_its_guest_exited_must_still_report_the_guests_status()
    {
        // The guest exits 7 with output still queued for a reader that does not read: the exit waits for the drain.
        // 1056 KiB is more than the FIFO holds (1 MiB once widened, 64 KiB if the kernel refused) and no more than FIFO
        // plus the 1 MiB output buffer, so the guest itself finishes either way.
        var (bundle, fifo) = BundleWithStalledStdout(WriteThenExit(1056, 7));
        var pid = await Create("drainfail", bundle, fifo);
        var wait = _sandbox.Ask<object>(new WaitTask("drainfail", ""), Long);
        await Ask<Started>(new StartTask("drainfail", ""));
        await AwaitAssertAsync(() => Assert.False(Directory.Exists($"/proc/self/task/{pid}"), "guest thread still running"), Long);
        Assert.False(wait.IsCompleted, "the exit went up before the output drained");

        var process = await Sys.ActorSelection("/user/sandbox/drainfail-*/init").ResolveOne(Long);
        process.Tell(Kill.Instance);

        Assert.Equal(7u, Assert.IsType<Exited>(await wait).ExitStatus);
        await Ask<Exited>(new DeleteTask("drainfail", ""));
        await AssertStillServingAsync();
    }

    [Fact]
    public async Task A_process_actor_that_fails_while_its_guest_runs_must_end_the_guest_and_report_255()
    {
        var sibling = Bundle(Wat.Sleep);
        await Create("calm", sibling);
        await Ask<Started>(new StartTask("calm", ""));
        await Create("victim", Bundle(Wat.Spin));
        var wait = _sandbox.Ask<object>(new WaitTask("victim", ""), Long);
        await Ask<Started>(new StartTask("victim", ""));

        var process = await Sys.ActorSelection("/user/sandbox/victim-*/init").ResolveOne(Long);
        process.Tell(Kill.Instance);

        Assert.Equal(255u, Assert.IsType<Exited>(await wait).ExitStatus);
        Assert.Equal(ProcessStatus.Stopped, (await Ask<ProcessView>(new QueryState("victim", ""))).Status);
        await AwaitAssertAsync(() => Assert.Contains(_sink.Events.OfType<TaskExited>(), e => e.ContainerId == "victim" && e.ExitStatus == 255));
        await Ask<Exited>(new DeleteTask("victim", ""));
        Assert.Equal(ProcessStatus.Running, (await Ask<ProcessView>(new QueryState("calm", ""))).Status);
        await AssertStillServingAsync();
    }

    [Fact]
    public async Task A_container_actor_that_fails_must_answer_its_waiters_and_leave_the_sandbox_serving()
    {
        await Create("crashing", Bundle(Wat.Sleep));
        var wait = _sandbox.Ask<object>(new WaitTask("crashing", ""), Long);
        await Ask<Started>(new StartTask("crashing", ""));

        var container = await Sys.ActorSelection("/user/sandbox/crashing-*").ResolveOne(Long);
        Watch(container);
        container.Tell(Kill.Instance);
        await ExpectTerminatedAsync(container, Long);

        Assert.Equal(255u, Assert.IsType<Exited>(await wait).ExitStatus);
        await AwaitAssertAsync(() => Assert.Contains(_sink.Events.OfType<TaskExited>(), e => e.ContainerId == "crashing" && e.ExitStatus == 255));
        // Forgotten, so the id can be used again.
        await AwaitAssertAsync(async () =>
            Assert.Equal(FailureCode.NotFound, Assert.IsType<CommandFailed>(await _sandbox.Ask<object>(new QueryState("crashing", ""), Long)).Code));
        await Create("crashing", Bundle(Wat.PrintAndExit("again\n", 0)));
        await Ask<Started>(new StartTask("crashing", ""));
        Assert.Equal(0u, (await Ask<Exited>(new WaitTask("crashing", ""))).ExitStatus);
        await AssertStillServingAsync();
    }

    [Fact]
    public async Task A_create_with_a_nul_or_relative_bundle_must_be_refused_without_hurting_the_sandbox()
    {
        await Create("bystander", Bundle(Wat.Sleep));
        await Ask<Started>(new StartTask("bystander", ""));
        var sandboxActor = _sandbox;
        Watch(sandboxActor);

        foreach (var bundle in new[] { "/tmp/a\0b", "relative/bundle", "" })
        {
            var failure = Assert.IsType<CommandFailed>(await _sandbox.Ask<object>(new CreateTask("nulbundle", bundle, [], Stdio.None), Long));
            Assert.Equal(FailureCode.InvalidArgument, failure.Code);
        }

        Assert.Equal(ProcessStatus.Running, (await Ask<ProcessView>(new QueryState("bystander", ""))).Status);
        await ExpectNoMsgAsync(TimeSpan.FromMilliseconds(100));
    }

    private async Task AssertStillServingAsync()
    {
        var id = "after-" + Guid.NewGuid().ToString("N")[..8];
        var bundle = Bundle(Wat.PrintAndExit("still here\n", 0));
        await Create(id, bundle);
        await Ask<Started>(new StartTask(id, ""));
        Assert.Equal(0u, (await Ask<Exited>(new WaitTask(id, ""))).ExitStatus);
        Assert.Equal("still here\n", bundle.Stdout);
    }

    private (TestBundle Bundle, string Fifo) BundleWithStalledStdout(string wat)
    {
        var bundle = Bundle(wat);
        var fifo = Path.Combine(bundle.Path, "stdout");
        Fifo.Create(fifo);
        _readers.Add(Fifo.OpenReader(fifo));
        return (bundle, fifo);
    }

    private TestBundle Bundle(string wat)
    {
        var bundle = new TestBundle(wat);
        _bundles.Add(bundle);
        return bundle;
    }

    private async Task<uint> Create(string id, TestBundle bundle, string? stdout = null) =>
        (await Ask<Created>(new CreateTask(id, bundle.Path, [], new Stdio("", stdout ?? bundle.StdoutUri, "", false)))).Pid;

    private async Task<T> Ask<T>(object command)
    {
        var reply = await _sandbox.Ask<object>(command, Long);
        Assert.True(reply is T, $"expected {typeof(T).Name}, got {reply}");
        return (T)reply;
    }
}
