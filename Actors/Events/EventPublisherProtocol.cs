using Akka.Actor;

namespace WasmKata.Actors.Events;

/// <summary>The one ordered path of events to containerd.</summary>
public static class EventPublisherProtocol
{
    /// <summary>Events are delivered in the order they are told, each retried with growing pauses before it is given up.</summary>
    public static Props Props(IEventSink sink, int maxAttempts = 5, int maxQueued = 2048) =>
        Akka.Actor.Props.Create(() => new EventPublisherActor(sink, maxAttempts, maxQueued));

    /// <summary>Replies <see cref="Flushed"/> once every event told before it has been delivered or given up.</summary>
    public sealed record Flush
    {
        /// <summary>The one instance.</summary>
        public static readonly Flush Instance = new();
    }

    /// <summary>Reply to <see cref="Flush"/>.</summary>
    public sealed record Flushed
    {
        /// <summary>The one instance.</summary>
        public static readonly Flushed Instance = new();
    }
}
