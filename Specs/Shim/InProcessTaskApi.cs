using Akka.Actor;
using WasmKata.Actors;
using WasmKata.Actors.Sandbox;
using WasmKata.Engine;
using WasmKata.Shim.Service;
using WasmKata.Shim.Ttrpc;
using WasmKata.Specs.Actors;

namespace WasmKata.Specs.Shim;

/// <summary>
/// The real ttrpc server serving the real task and sandbox APIs over a real sandbox actor, in this process, on a socket and state
/// root of its own; <paramref name="onShutdown"/> stands for the daemon's exit.
/// </summary>
internal sealed class InProcessTaskApi : IAsyncDisposable
{
    private readonly UnixSocketDir _dir = new();
    private readonly WasmEngine _engine = new(new EngineOptions());

    public InProcessTaskApi(string name, Action onShutdown)
    {
        StateRoot = Directory.CreateTempSubdirectory($"wk-{name}-state-").FullName;
        System = ActorSystem.Create(name, "akka.loglevel = ERROR\nakka.log-dead-letters = off");
        var settings = new RuntimeSettings { Namespace = name, StateRoot = StateRoot, ReapOrphans = false };
        Sandbox = System.ActorOf(SandboxProtocol.Props(_engine, new RecordingEventSink(), settings, new NoExit()), "sandbox");
        Server = new TtrpcServer(UnixSocketDir.Listen(SocketPath));
        new TaskService(Sandbox, onShutdown).Register(Server);
        new SandboxService(Sandbox, new TaskService.PlainGate(Sandbox, onShutdown)).Register(Server);
        _ = Server.RunAsync();
    }

    public ActorSystem System { get; }

    public IActorRef Sandbox { get; }

    public TtrpcServer Server { get; }

    public string StateRoot { get; }

    public string SocketPath => _dir.SocketPath();

    public async ValueTask DisposeAsync()
    {
        await Server.DisposeAsync();
        await System.Terminate();
        _engine.Dispose();
        _dir.Dispose();
        Directory.Delete(StateRoot, recursive: true);
    }
}
