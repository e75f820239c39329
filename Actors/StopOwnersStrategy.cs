using Akka.Actor;
using Akka.Actor.Internal;

namespace WasmKata.Actors;

/// <summary>
/// One-for-one supervision that stops, never restarts, a failed child owning guests, mounts or fds (a restart would
/// run its start-up again: mount twice, launch a second guest); other children are restarted as Akka's default does.
/// The parent watches the owners and turns their <see cref="Terminated"/> into a status upward.
/// </summary>
internal sealed class StopOwnersStrategy(Func<IActorRef, bool> ownsResources) : OneForOneStrategy(DefaultDecider)
{
    /// <summary>Stops every failed child.</summary>
    public static SupervisorStrategy StopAll { get; } = new OneForOneStrategy(_ => Directive.Stop);

    public override void ProcessFailure(
        IActorContext context, bool restart, IActorRef child, Exception cause, ChildRestartStats stats, IReadOnlyCollection<ChildRestartStats> children)
    {
        if (restart && ownsResources(child))
            context.Stop(child);
        else
            base.ProcessFailure(context, restart, child, cause, stats, children);
    }
}
