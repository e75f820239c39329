using System.Diagnostics;
using Akka.Actor;
using Akka.TestKit.Xunit2;
using WasmKata.Actors;
using WasmKata.Actors.Sandbox;
using WasmKata.Core;
using WasmKata.Core.Oci;
using WasmKata.Engine;
using Xunit;
using Xunit.Abstractions;
using static WasmKata.Actors.TaskProtocol;

namespace WasmKata.Specs.Actors;

/// <summary>Pause, resume, update and OOM through the sandbox, container and process actors.</summary>
public sealed class ResourceActorSpec : TestKit
{
    private static readonly TimeSpan Long = TimeSpan.FromSeconds(10);
    private readonly WasmEngine _engine = new(new EngineOptions());
    private readonly RecordingEventSink _sink = new();
    private readonly List<TestBundle> _bundles = [];
    private readonly IActorRef _sandbox;
    private readonly string _stateRoot = Directory.CreateTempSubdirectory("wk-state-").FullName;

    public ResourceActorSpec(ITestOutputHelper output) : base("akka.loglevel = INFO", output)
    {
        _sandbox = Sys.ActorOf(SandboxProtocol.Props(_engine, _sink, new RuntimeSettings { Namespace = "spec", StateRoot = _stateRoot, ReapOrphans = false }, new NoExit()), "sandbox");
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

    [Fact]
    public async Task Pause_must_stop_the_guest_read_paused_and_resume_must_let_it_run_on_with_events()
    {
        await CreateAndStart("p1", new TestBundle(Wat.Spin));

        await Ask<Done>(new PauseTask("p1"));
        Assert.Equal(ProcessStatus.Paused, (await Ask<ProcessView>(new QueryState("p1", ""))).Status);
        // Within a tick the guest is parked: its thread's CPU time stands still.
        await Task.Delay(100);
        var before = (await Ask<StatsView>(new QueryStats("p1"))).CpuNanoseconds;
        await Task.Delay(300);
        var during = (await Ask<StatsView>(new QueryStats("p1"))).CpuNanoseconds - before;
        Assert.True(during < 20_000_000, $"a paused guest used {during / 1e6} ms of CPU in 300 ms");
        AssertFailure(await _sandbox.Ask<object>(new PauseTask("p1"), Long), FailureCode.FailedPrecondition, "paused");

        await Ask<Done>(new ResumeTask("p1"));
        Assert.Equal(ProcessStatus.Running, (await Ask<ProcessView>(new QueryState("p1", ""))).Status);
        before = (await Ask<StatsView>(new QueryStats("p1"))).CpuNanoseconds;
        await AwaitAssertAsync(async () => Assert.True((await Ask<StatsView>(new QueryStats("p1"))).CpuNanoseconds > before + 20_000_000), Long);
        AssertFailure(await _sandbox.Ask<object>(new ResumeTask("p1"), Long), FailureCode.FailedPrecondition, "running");
        await AwaitAssertAsync(() => Assert.Equal(["/tasks/create", "/tasks/start", "/tasks/paused", "/tasks/resumed"], _sink.TopicsFor("p1")));
    }

    [Fact]
    public async Task A_paused_guest_must_be_killed_promptly_and_then_read_stopped()
    {
        await CreateAndStart("p2", new TestBundle(Wat.Spin));
        await Ask<Done>(new PauseTask("p2"));

        var clock = Stopwatch.StartNew();
        var wait = _sandbox.Ask<object>(new WaitTask("p2", ""), Long);
        await Ask<Done>(new KillTask("p2", "", 9, false));
        var exited = Assert.IsType<Exited>(await wait);

        Assert.Equal(137u, exited.ExitStatus);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"kill of a paused guest took {clock.ElapsedMilliseconds} ms");
        Assert.Equal(ProcessStatus.Stopped, (await Ask<ProcessView>(new QueryState("p2", ""))).Status);
        AssertFailure(await _sandbox.Ask<object>(new ResumeTask("p2"), Long), FailureCode.FailedPrecondition, "stopped");
        await Ask<Exited>(new DeleteTask("p2", ""));
    }

    [Fact]
    public async Task Pause_of_a_created_task_must_be_refused_as_containerd_does()
    {
        var bundle = Track(new TestBundle(Wat.Spin));
        await Ask<Created>(new CreateTask("p3", bundle.Path, [], new Stdio("", bundle.StdoutUri, "", false)));

        AssertFailure(await _sandbox.Ask<object>(new PauseTask("p3"), Long), FailureCode.FailedPrecondition, "created state");
        AssertFailure(await _sandbox.Ask<object>(new PauseTask("nope"), Long), FailureCode.NotFound, "not found");
        await Ask<Exited>(new DeleteTask("p3", ""));
    }

    [Fact]
    public async Task A_guest_at_its_limit_must_publish_oom_and_grow_on_after_update_raises_it()
    {
        await CreateAndStart("m1", new TestBundle(Wat.GrowForever, memoryLimit: 4 * 65536));

        await AwaitAssertAsync(() => Assert.Contains("/tasks/oom", _sink.TopicsFor("m1")), Long);
        var stats = await Ask<StatsView>(new QueryStats("m1"));
        Assert.Equal(4 * 65536, stats.MemoryBytes);
        Assert.Equal(4 * 65536, stats.MemoryLimitBytes);

        await Ask<Done>(new UpdateTask("m1", new OciResources { Memory = new OciMemory { Limit = 8 * 65536 } }));
        await AwaitAssertAsync(async () => Assert.Equal(8 * 65536, (await Ask<StatsView>(new QueryStats("m1"))).MemoryBytes), Long);
        Assert.Equal(8 * 65536, (await Ask<StatsView>(new QueryStats("m1"))).MemoryLimitBytes);
        await AwaitAssertAsync(() => Assert.Equal(2, _sink.TopicsFor("m1").Count(t => t == "/tasks/oom")), Long);

        await Ask<Done>(new UpdateTask("m1", new OciResources { Memory = new OciMemory { Limit = -1 } }));
        await AwaitAssertAsync(async () => Assert.Equal(64 * 65536, (await Ask<StatsView>(new QueryStats("m1"))).MemoryBytes), Long);
        Assert.Null((await Ask<StatsView>(new QueryStats("m1"))).MemoryLimitBytes);
    }

    [Fact]
    public async Task Update_with_values_no_kernel_takes_must_be_invalid_argument_and_change_nothing()
    {
        await CreateAndStart("u1", new TestBundle(Wat.Sleep, memoryLimit: 1 << 20));

        AssertFailure(await _sandbox.Ask<object>(new UpdateTask("u1", new OciResources { Memory = new OciMemory { Limit = -7 } }), Long), FailureCode.InvalidArgument, "memory.limit");
        AssertFailure(await _sandbox.Ask<object>(new UpdateTask("u1", new OciResources { Cpu = new OciCpu { Quota = 10 } }), Long), FailureCode.InvalidArgument, "cpu.quota");
        AssertFailure(await _sandbox.Ask<object>(new UpdateTask("u1", new OciResources { Cpu = new OciCpu { Period = 5 } }), Long), FailureCode.InvalidArgument, "cpu.period");
        AssertFailure(await _sandbox.Ask<object>(new UpdateTask("u1", new OciResources { Cpu = new OciCpu { Shares = 1 } }), Long), FailureCode.InvalidArgument, "cpu.shares");
        Assert.Equal(1 << 20, (await Ask<StatsView>(new QueryStats("u1"))).MemoryLimitBytes);

        await Ask<Done>(new UpdateTask("u1", new OciResources { Cpu = new OciCpu { Quota = 20_000, Period = 100_000, Shares = 512 } }));
        await Ask<Done>(new KillTask("u1", "", 9, false));
        await Ask<Exited>(new WaitTask("u1", ""));
        AssertFailure(await _sandbox.Ask<object>(new UpdateTask("u1", new OciResources { Memory = new OciMemory { Limit = 1 << 21 } }), Long), FailureCode.FailedPrecondition, "stopped");
    }

    private TestBundle Track(TestBundle bundle)
    {
        _bundles.Add(bundle);
        return bundle;
    }

    private async Task CreateAndStart(string id, TestBundle bundle)
    {
        Track(bundle);
        await Ask<Created>(new CreateTask(id, bundle.Path, [], new Stdio("", bundle.StdoutUri, "", false)));
        await Ask<Started>(new StartTask(id, ""));
    }

    private async Task<T> Ask<T>(object command)
    {
        var reply = await _sandbox.Ask<object>(command, Long);
        return Assert.IsType<T>(reply);
    }

    private static void AssertFailure(object reply, FailureCode code, string text)
    {
        var failure = Assert.IsType<CommandFailed>(reply);
        Assert.Equal(code, failure.Code);
        Assert.Contains(text, failure.Message, StringComparison.Ordinal);
    }
}
