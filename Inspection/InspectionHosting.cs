using Akka;
using Akka.Actor;
using Akka.Event;

namespace WasmKata.Inspection;

/// <summary>Puts a shim daemon in the host's inspection cluster.</summary>
public static class InspectionHosting
{
    /// <summary>
    /// Creates the inspection actor next to the sandbox at once (so it sees every event), registers the shim for the
    /// CLI to wake its cluster-enabled inspection system (<see cref="InspectionOptions.OnDemand"/>), and takes it down
    /// at the start of the shim's coordinated shutdown. Serving containerd never waits for any of it. Call once, right
    /// after creating the daemon's actor system.
    /// </summary>
    public static void Start(ActorSystem system, InspectionOptions options)
    {
        if (!options.Enabled)
            return;
        var identity = new ShimIdentity(Environment.ProcessId, options.ShimId, options.Namespace, options.Bundle, DateTimeOffset.UtcNow);
        var inspection = system.ActorOf(InspectionProtocol.Props(options.SandboxPath, identity), "inspection");
        var node = InspectionNode.Launch(options, inspection, Logging.GetLogger(system, "inspection"));
        CoordinatedShutdown.Get(system).AddTask(CoordinatedShutdown.PhaseBeforeServiceUnbind, "stop-inspection", async () =>
        {
            await node.StopAsync();
            return Done.Instance;
        });
    }
}
