using Akka.Actor;

namespace WasmKata.Inspection;

/// <summary>
/// The read-only view of one shim for the <c>wasmkata</c> CLI: a snapshot of the actor tree and the task state it
/// holds, and the task events as they flow up. Only local actors speak these commands; the wire protocol is
/// <see cref="InspectionWire"/>.
/// </summary>
public static class InspectionProtocol
{
    /// <summary>
    /// The inspection actor; it reads the tree under <paramref name="sandboxPath"/> with the task commands and
    /// <see cref="Identify"/>, and records the task events published on the event stream from its start.
    /// </summary>
    public static Props Props(string sandboxPath, ShimIdentity identity, InspectionSettings? settings = null) =>
        // Not the expression form: compiling its argument expressions cost the shim ~5 ms on its way to serving.
        Akka.Actor.Props.Create<InspectionActor>(sandboxPath, identity, settings ?? new InspectionSettings());

    internal static Props Snapshot(string sandboxPath, ShimIdentity identity, InspectionSettings settings,
        IReadOnlyDictionary<string, DateTimeOffset> startedAt, IActorRef replyTo) =>
        Akka.Actor.Props.Create(() => new SnapshotActor(sandboxPath, identity, settings, startedAt, replyTo));

    /// <summary>Walk the tree and reply <see cref="ShimSnapshot"/> (partial, with <c>Complete = false</c>, past the deadline).</summary>
    public sealed record TakeSnapshot
    {
        /// <summary>The one instance.</summary>
        public static readonly TakeSnapshot Instance = new();
    }

    /// <summary>
    /// Send every task event to <paramref name="Subscriber"/> as an <see cref="InspectionWire.Event"/> for
    /// <paramref name="Lease"/>; subscribing again renews the lease. Replies <see cref="InspectionWire.Subscribed"/>
    /// to the subscriber.
    /// </summary>
    public sealed record Subscribe(IActorRef Subscriber, TimeSpan Lease);

    /// <summary>Stop sending events to <paramref name="Subscriber"/>.</summary>
    public sealed record Unsubscribe(IActorRef Subscriber);

    internal sealed record PurgeLeases
    {
        public static readonly PurgeLeases Instance = new();
    }
}

/// <summary>Who the shim is, as the inspection actor reports it.</summary>
public sealed record ShimIdentity(int Pid, string Id, string Namespace, string Bundle, DateTimeOffset StartedAt);

/// <summary>Timing of the tree walk.</summary>
public sealed record InspectionSettings
{
    /// <summary>How long the walk waits for one more actor to answer Identify before it takes the tree as complete.</summary>
    public TimeSpan QuietPeriod { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>The longest a snapshot takes; past it the answers so far are sent, marked incomplete.</summary>
    public TimeSpan Deadline { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>How often expired event subscriptions are dropped.</summary>
    public TimeSpan LeaseCheckInterval { get; init; } = TimeSpan.FromSeconds(5);
}
