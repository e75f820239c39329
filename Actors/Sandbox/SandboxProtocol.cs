using Akka.Actor;
using WasmKata.Actors.Events;
using WasmKata.Engine;

namespace WasmKata.Actors.Sandbox;

/// <summary>The root of a shim's tree: the containers map, the event publisher and the signal watcher.</summary>
public static class SandboxProtocol
{
    /// <summary>The sandbox actor; <paramref name="lifetime"/> is told when the shim should exit.</summary>
    public static Props Props(WasmEngine engine, IEventSink sink, RuntimeSettings settings, IShimLifetime lifetime) =>
        Akka.Actor.Props.Create(() => new SandboxActor(engine, sink, settings, lifetime));

    /// <summary>The ids of the containers the sandbox holds. Replies <see cref="ContainerList"/>.</summary>
    public sealed record ListContainers
    {
        /// <summary>The one instance.</summary>
        public static readonly ListContainers Instance = new();
    }

    /// <summary>Reply to <see cref="ListContainers"/>.</summary>
    public sealed record ContainerList(IReadOnlyList<string> Ids);

    internal sealed record ShutdownGraceOver
    {
        public static readonly ShutdownGraceOver Instance = new();
    }
}

/// <summary>How the actor tree asks the hosting process to exit.</summary>
public interface IShimLifetime
{
    /// <summary>Stop serving and exit once the current replies are out.</summary>
    void RequestExit();
}
