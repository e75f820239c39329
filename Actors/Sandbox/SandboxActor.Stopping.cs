using Akka.Actor;
using Akka.Event;
using WasmKata.Actors.Events;
using WasmKata.Actors.Signals;
using WasmKata.Core;
using static WasmKata.Actors.Sandbox.SandboxProtocol;
using static WasmKata.Actors.TaskProtocol;

namespace WasmKata.Actors.Sandbox;

// The orderly stop on SIGTERM/SIGINT is a behaviour of its own (as Akka's TcpConnection closes in
// ClosingWithPendingWrite): once begun it never returns to serving, so no flag guards the normal behaviour.
internal sealed partial class SandboxActor
{
    private void OnShutdownSignal(SignalWatcherProtocol.ShutdownSignalled signalled)
    {
        _log.Info("{Signal} received: killing {Count} containers and shutting down", signalled.Signal, _containers.Count);
        // Kill every guest, then wait for each init's exit: exits are published (after their output drained)
        // before the events are flushed and the shim exits. The grace timer bounds it all.
        var awaitingExits = _containers.Count;
        foreach (var (id, container) in _containers)
        {
            container.Tell(new KillTask(id, "", SignalNumber.Kill, All: true), ActorRefs.Nobody);
            container.Tell(new WaitTask(id, ""));
        }
        Become(() => Stopping(awaitingExits));
        if (awaitingExits == 0)
            Self.Tell(ShutdownGraceOver.Instance);
        else
            Timers.StartSingleTimer("grace", ShutdownGraceOver.Instance, _settings.ShutdownGrace);
    }

    /// <summary>Stopping: <paramref name="awaitingExits"/> inits have yet to answer the Wait sent them.</summary>
    private void Stopping(int awaitingExits)
    {
        Receive<CreateTask>(create =>
        {
            if ((ValidateId(create.ContainerId) ?? ValidateBundle(create.Bundle)) is { } invalid)
                Sender.Tell(invalid);
            else
                Sender.Tell(new CommandFailed(FailureCode.Unavailable, "the shim is shutting down"));
        });
        Receive<PodSandboxProtocol.CreatePodSandbox>(_ => Sender.Tell(new CommandFailed(FailureCode.Unavailable, "the shim is shutting down")));
        // A second signal changes nothing: the stop under way already kills everything and bounds the wait.
        Receive<SignalWatcherProtocol.ShutdownSignalled>(_ => { });
        Receive<Exited>(_ => ExitAnswered(awaitingExits));
        Receive<CommandFailed>(_ => ExitAnswered(awaitingExits));
        Receive<ShutdownGraceOver>(_ =>
        {
            Timers.Cancel("grace");
            _events.Tell(EventPublisherProtocol.Flush.Instance);
        });
        Receive<EventPublisherProtocol.Flushed>(_ => RemoveCgroupAsync().PipeTo(Self, success: () => CgroupRemoved.Instance));
        Receive<CgroupRemoved>(_ => _lifetime.RequestExit());
        ReceiveCommon();
    }

    // A Wait answered, with an exit or a failure: the last one ends the grace early.
    private void ExitAnswered(int awaitingExits)
    {
        if (awaitingExits - 1 == 0)
            Self.Tell(ShutdownGraceOver.Instance);
        Become(() => Stopping(awaitingExits - 1));
    }
}
