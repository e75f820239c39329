using System.Runtime.InteropServices;
using Akka.Actor;
using static WasmKata.Actors.Signals.SignalWatcherProtocol;

namespace WasmKata.Actors.Signals;

/// <summary>Registers the process's signal handlers; the handlers only tell the parent, nothing else.</summary>
internal sealed class SignalWatcherActor : ReceiveActor
{
    private readonly List<PosixSignalRegistration> _registrations = [];

    protected override void PreStart()
    {
        var parent = Context.Parent;
        foreach (var signal in new[] { PosixSignal.SIGTERM, PosixSignal.SIGINT })
        {
            _registrations.Add(PosixSignalRegistration.Create(signal, context =>
            {
                context.Cancel = true;
                parent.Tell(new ShutdownSignalled(context.Signal));
            }));
        }
        _registrations.Add(PosixSignalRegistration.Create(PosixSignal.SIGCHLD, _ => parent.Tell(ChildSignalled.Instance)));
    }

    protected override void PostStop()
    {
        foreach (var registration in _registrations)
            registration.Dispose();
    }
}
