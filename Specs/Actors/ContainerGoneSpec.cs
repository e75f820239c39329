using Akka.Actor;
using Akka.TestKit.Xunit2;
using WasmKata.Actors;
using WasmKata.Actors.Sandbox;
using WasmKata.Core;
using WasmKata.Engine;
using Xunit;
using Xunit.Abstractions;
using static WasmKata.Actors.TaskProtocol;

namespace WasmKata.Specs.Actors;

/// <summary>
/// Commands the sandbox routed to a container actor that is about to stop (its Create failed, or it was just deleted)
/// must still be answered: the task service asks without a timeout, so a command lost in dead letters is an RPC that
/// containerd waits on for ever (what the ttrpc fuzz run caught as a Delete with no answer).
/// </summary>
public sealed class ContainerGoneSpec : TestKit
{
    private static readonly TimeSpan Long = TimeSpan.FromSeconds(10);
    private readonly WasmEngine _engine = new(new EngineOptions());
    private readonly List<TestBundle> _bundles = [];
    private readonly IActorRef _sandbox;
    private readonly string _stateRoot = Directory.CreateTempSubdirectory("wk-state-").FullName;

    public ContainerGoneSpec(ITestOutputHelper output) : base("akka.loglevel = INFO", output)
    {
        var settings = new RuntimeSettings { Namespace = "spec", StateRoot = _stateRoot, ReapOrphans = false };
        _sandbox = Sys.ActorOf(SandboxProtocol.Props(_engine, new RecordingEventSink(), settings, new NoExit()), "sandbox");
    }

    protected override void AfterAll()
    {
        base.AfterAll();
        Shutdown();
        foreach (var bundle in _bundles)
            bundle.Dispose();
        _engine.Dispose();
        Directory.Delete(_stateRoot, recursive: true);
    }

    public static TheoryData<string> Commands => ["Delete", "Wait", "State", "Kill", "Start", "Connect", "Pids"];

    [Theory]
    [MemberData(nameof(Commands))]
    public void Commands_sent_right_behind_a_failing_create_must_be_answered(string command)
    {
        // Both reach the sandbox before the new container actor has even started: the command is routed to the actor
        // whose Create is about to fail.
        for (var round = 0; round < 20; round++)
        {
            var id = $"{command}-{round}";
            var creator = CreateTestProbe();
            var asker = CreateTestProbe();
            _sandbox.Tell(new CreateTask(id, "/nonexistent/bundle", [], Stdio.None), creator);
            _sandbox.Tell(Command(command, id), asker);
            Assert.Equal(FailureCode.InvalidArgument, creator.ExpectMsg<CommandFailed>(Long).Code);
            var answer = asker.ExpectMsg<object>(Long, $"no answer to {command} of {id} sent right behind its failing Create");
            if (command == "Connect")
                Assert.IsType<Connected>(answer);
            else
                Assert.Equal(FailureCode.NotFound, Assert.IsType<CommandFailed>(answer).Code);
        }
    }

    [Fact]
    public void Commands_sent_right_behind_a_delete_must_be_answered()
    {
        var bundle = new TestBundle(Wat.PrintAndExit("", 0));
        _bundles.Add(bundle);
        foreach (var command in Commands)
        {
            var id = $"deleted-{command}";
            _sandbox.Tell(new CreateTask(id, bundle.Path, [], Stdio.None), TestActor);
            ExpectMsg<Created>(Long);
            _sandbox.Tell(new StartTask(id, ""), TestActor);
            ExpectMsg<Started>(Long);
            _sandbox.Tell(new WaitTask(id, ""), TestActor);
            ExpectMsg<Exited>(Long);

            var deleter = CreateTestProbe();
            var asker = CreateTestProbe();
            _sandbox.Tell(new DeleteTask(id, ""), deleter);
            _sandbox.Tell(Command(command, id), asker);
            deleter.ExpectMsg<Exited>(Long);
            var answer = asker.ExpectMsg<object>(Long, $"no answer to {command} of {id} sent right behind its Delete");
            if (command == "Connect")
                Assert.IsType<Connected>(answer);
            else
                Assert.Equal(FailureCode.NotFound, Assert.IsType<CommandFailed>(answer).Code);
        }
    }

    private static object Command(string name, string id) => name switch
    {
        "Delete" => new DeleteTask(id, ""),
        "Wait" => new WaitTask(id, ""),
        "State" => new QueryState(id, ""),
        "Kill" => new KillTask(id, "", 9, false),
        "Start" => new StartTask(id, ""),
        "Connect" => new ConnectTask(id),
        "Pids" => new ListPids(id),
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, null),
    };
}
