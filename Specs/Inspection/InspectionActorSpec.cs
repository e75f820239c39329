using System.Text.Json;
using Akka.Actor;
using Akka.TestKit.Xunit2;
using WasmKata.Actors;
using WasmKata.Actors.Sandbox;
using WasmKata.Engine;
using WasmKata.Inspection;
using WasmKata.Linux.Io;
using WasmKata.Specs.Actors;
using Xunit;
using Xunit.Abstractions;
using static WasmKata.Actors.TaskProtocol;

namespace WasmKata.Specs.Inspection;

/// <summary>The inspection actor over a real sandbox running real guests.</summary>
public sealed class InspectionActorSpec : TestKit
{
    private static readonly TimeSpan Long = TimeSpan.FromSeconds(10);
    private readonly WasmEngine _engine = new(new EngineOptions());
    private readonly List<TestBundle> _bundles = [];
    private readonly IActorRef _sandbox;
    private readonly IActorRef _inspection;

    public InspectionActorSpec(ITestOutputHelper output) : base("akka.loglevel = INFO", output)
    {
        _sandbox = Sys.ActorOf(SandboxProtocol.Props(_engine, new RecordingEventSink(), new RuntimeSettings { ReapOrphans = false }, new NoExit()), "sandbox");
        _inspection = Sys.ActorOf(InspectionProtocol.Props("/user/sandbox", Identity, new InspectionSettings
        {
            LeaseCheckInterval = TimeSpan.FromMilliseconds(100),
        }), "inspection");
    }

    private static ShimIdentity Identity { get; } =
        new(Environment.ProcessId, "sandbox-1", "specs", "/bundle", DateTimeOffset.UtcNow);

    protected override void AfterAll()
    {
        base.AfterAll();
        foreach (var bundle in _bundles)
            bundle.Dispose();
        _engine.Dispose();
    }

    [Fact]
    public async Task Tree_of_a_running_process_must_show_its_three_pumps()
    {
        var bundle = Bundle(Wat.Sleep);
        var stdin = Path.Combine(bundle.Path, "stdin");
        Fifo.Create(stdin);
        var stderr = "file://" + Path.Combine(bundle.Path, "stderr.log");
        await Ask<Created>(new CreateTask("c1", bundle.Path, [], new Stdio(stdin, bundle.StdoutUri, stderr, false)));
        await Ask<Started>(new StartTask("c1", ""));

        var snapshot = await Snapshot();

        Assert.True(snapshot.Complete);
        var container = Assert.Single(snapshot.Tree.Children, n => n.Kind == "container");
        Assert.Equal("c1-1", container.Name);
        Assert.Contains("container c1: Running", container.State);
        var init = Assert.Single(container.Children);
        Assert.Equal(("init", "process"), (init.Name, init.Kind));
        Assert.Equal(["stderr", "stdin", "stdout"], init.Children.Select(p => p.Name));
        Assert.All(init.Children, p => Assert.Equal("pump", p.Kind));
        Assert.Contains(bundle.StdoutUri, init.Children.Single(p => p.Name == "stdout").State);
        Assert.Equal(["events", "signals"], snapshot.Tree.Children.Where(n => n.Kind != "container").Select(n => n.Name).Order());
        var process = Assert.Single(Assert.Single(snapshot.Containers).Processes);
        Assert.Equal(["stderr", "stdin", "stdout"], process.Pumps.Order());
        Assert.Equal(container.Path + "/init", process.ActorPath);
    }

    [Fact]
    public async Task Ps_view_must_give_state_exit_status_times_and_memory()
    {
        var began = DateTimeOffset.UtcNow;
        await Ask<Created>(new CreateTask("done", Bundle(Wat.PrintAndExit("bye\n", 3)).Path, [], Stdio.None));
        await Ask<Started>(new StartTask("done", ""));
        await Ask<Exited>(new WaitTask("done", ""));
        await Ask<Created>(new CreateTask("busy", Bundle(Wat.Sleep).Path, [], Stdio.None));
        await Ask<Started>(new StartTask("busy", ""));

        var snapshot = await Snapshot();

        Assert.Equal(Identity.Pid, snapshot.Shim.Pid);
        Assert.True(snapshot.Shim.ResidentBytes > 0);
        var done = snapshot.Containers.Single(c => c.Id == "done");
        Assert.Equal(("Stopped", 3u), (done.Status, done.ExitStatus));
        // The start is stamped as the start event is sent, just after the guest is let go: a guest this short may
        // have exited a moment before. Both lie within the spec, though.
        Assert.InRange(done.StartedAt!.Value, began, DateTimeOffset.UtcNow);
        Assert.InRange(done.ExitedAt!.Value, began, DateTimeOffset.UtcNow);
        var busy = snapshot.Containers.Single(c => c.Id == "busy");
        Assert.Equal("Running", busy.Status);
        Assert.Null(busy.ExitStatus);
        Assert.Null(busy.ExitedAt);
        Assert.True(busy.Pid > 0);
        Assert.True(busy.MemoryBytes > 0, "a running guest has linear memory");
    }

    [Fact]
    public async Task An_exec_must_appear_under_its_container_with_its_exec_id()
    {
        await Ask<Created>(new CreateTask("ex", Bundle(Wat.Sleep).Path, [], Stdio.None));
        await Ask<Started>(new StartTask("ex", ""));
        await Ask<Done>(new AddExec("ex", "probe", """{"args":["/app.wasm"],"cwd":"/"}""", Stdio.None));
        await Ask<Started>(new StartTask("ex", "probe"));

        // The start stamp comes with the exec-started event, which may reach the inspection actor after Start is answered.
        var snapshot = await Snapshot();
        await AwaitAssertAsync(async () =>
        {
            snapshot = await Snapshot();
            Assert.NotNull(snapshot.Containers.Single().Processes.LastOrDefault()?.StartedAt);
        }, Long);

        var container = Assert.Single(snapshot.Containers);
        Assert.Equal(["", "probe"], container.Processes.Select(p => p.ExecId));
        var exec = container.Processes[1];
        Assert.Equal("Running", exec.Status);
        Assert.NotNull(exec.StartedAt);
        Assert.EndsWith("/exec-1", exec.ActorPath);
        var node = snapshot.Tree.Children.Single(n => n.Kind == "container").Children.Single(n => n.Name == "exec-1");
        Assert.StartsWith("exec probe: Running", node.State);
    }

    [Fact]
    public async Task A_deleted_container_must_disappear()
    {
        await Ask<Created>(new CreateTask("gone", Bundle(Wat.PrintAndExit("x", 0)).Path, [], Stdio.None));
        await Ask<Created>(new CreateTask("kept", Bundle(Wat.Sleep).Path, [], Stdio.None));
        await Ask<Started>(new StartTask("gone", ""));
        await Ask<Exited>(new WaitTask("gone", ""));
        Assert.Contains("gone", (await Snapshot()).Containers.Select(c => c.Id));

        await Ask<Exited>(new DeleteTask("gone", ""));

        // The container actor stops just after its delete is answered.
        await AwaitAssertAsync(async () =>
        {
            var snapshot = await Snapshot();
            Assert.Equal(["kept"], snapshot.Containers.Select(c => c.Id));
            Assert.DoesNotContain(snapshot.Tree.Children, n => n.Name.StartsWith("gone", StringComparison.Ordinal));
        }, Long);
    }

    [Fact]
    public async Task Events_must_reach_a_subscriber_until_it_unsubscribes()
    {
        var probe = CreateTestProbe();
        _inspection.Tell(new InspectionProtocol.Subscribe(probe.Ref, TimeSpan.FromMinutes(1)));
        await probe.ExpectMsgAsync<InspectionWire.Subscribed>();

        await Ask<Created>(new CreateTask("ev", Bundle(Wat.PrintAndExit("x", 7)).Path, [], Stdio.None));
        await Ask<Started>(new StartTask("ev", ""));

        var topics = new List<string>();
        for (var i = 0; i < 3; i++)
            topics.Add((await probe.ExpectMsgAsync<InspectionWire.Event>(Long)).View.Topic);
        Assert.Equal(["/tasks/create", "/tasks/start", "/tasks/exit"], topics);

        _inspection.Tell(new InspectionProtocol.Unsubscribe(probe.Ref));
        await Ask<Exited>(new DeleteTask("ev", ""));
        await probe.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(300));
    }

    [Fact]
    public async Task An_expired_lease_must_end_the_subscription()
    {
        var probe = CreateTestProbe();
        _inspection.Tell(new InspectionProtocol.Subscribe(probe.Ref, TimeSpan.FromMilliseconds(50)));
        await probe.ExpectMsgAsync<InspectionWire.Subscribed>();
        // The lease check runs every 100 ms here; let two pass.
        await Task.Delay(TimeSpan.FromMilliseconds(300));

        await Ask<Created>(new CreateTask("late", Bundle(Wat.PrintAndExit("x", 0)).Path, [], Stdio.None));

        await probe.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(300));
    }

    [Fact]
    public async Task A_snapshot_must_cross_the_wire_serializer_and_parse_as_json()
    {
        await Ask<Created>(new CreateTask("wire", Bundle(Wat.Sleep).Path, [], Stdio.None));
        var snapshot = await Snapshot();
        var serializer = new InspectionSerializer((ExtendedActorSystem)Sys);
        var reply = new InspectionWire.InspectReply(snapshot);

        var bytes = serializer.ToBinary(reply);
        var back = (InspectionWire.InspectReply)serializer.FromBinary(bytes, serializer.Manifest(reply));

        using var json = JsonDocument.Parse(bytes);
        Assert.Equal("wire", json.RootElement.GetProperty("snapshot").GetProperty("containers")[0].GetProperty("id").GetString());
        Assert.Equal(snapshot.Containers.Single().Id, back.Snapshot.Containers.Single().Id);
        Assert.Equal(snapshot.Tree.Children.Count, back.Snapshot.Tree.Children.Count);
        Assert.Throws<System.Runtime.Serialization.SerializationException>(() => serializer.FromBinary(bytes, "System.Object"));
    }

    [Fact]
    public async Task Without_a_sandbox_the_snapshot_must_come_back_incomplete_at_the_deadline()
    {
        var lonely = Sys.ActorOf(InspectionProtocol.Props("/user/nothing-here", Identity, new InspectionSettings
        {
            Deadline = TimeSpan.FromMilliseconds(500),
        }));

        var snapshot = await lonely.Ask<ShimSnapshot>(InspectionProtocol.TakeSnapshot.Instance, Long);

        Assert.False(snapshot.Complete);
        Assert.Empty(snapshot.Containers);
    }

    private TestBundle Bundle(string wat)
    {
        var bundle = new TestBundle(wat);
        _bundles.Add(bundle);
        return bundle;
    }

    private async Task<ShimSnapshot> Snapshot() => await _inspection.Ask<ShimSnapshot>(InspectionProtocol.TakeSnapshot.Instance, Long);

    private async Task<T> Ask<T>(object command)
    {
        var reply = await _sandbox.Ask<object>(command, Long);
        return Assert.IsType<T>(reply);
    }
}
