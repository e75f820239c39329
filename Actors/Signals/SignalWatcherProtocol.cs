using System.Runtime.InteropServices;
using Akka.Actor;

namespace WasmKata.Actors.Signals;

/// <summary>OS signals turned into messages for the sandbox.</summary>
public static class SignalWatcherProtocol
{
    /// <summary>Watches SIGTERM, SIGINT and SIGCHLD and tells its parent.</summary>
    public static Props Props() => Akka.Actor.Props.Create(() => new SignalWatcherActor());

    /// <summary>SIGTERM or SIGINT: shut down in order.</summary>
    public sealed record ShutdownSignalled(PosixSignal Signal);

    /// <summary>SIGCHLD: some child process changed state.</summary>
    public sealed record ChildSignalled
    {
        /// <summary>The one instance.</summary>
        public static readonly ChildSignalled Instance = new();
    }
}
