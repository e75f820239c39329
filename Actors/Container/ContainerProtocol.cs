using Akka.Actor;
using WasmKata.Core.Oci;
using WasmKata.Core.Plan;
using WasmKata.Engine;
using WasmKata.Linux.Namespaces;

namespace WasmKata.Actors.Container;

/// <summary>One container: its rootfs, its spec and its processes.</summary>
public static class ContainerProtocol
{
    /// <summary>
    /// The actor that carries out <paramref name="create"/> from its inputs as read once (<paramref name="plan"/>, or the
    /// failure it reports) and answers <paramref name="replyTo"/>; it saves <paramref name="sandboxCgroup"/> (null: none)
    /// with its state so a crashed shim's <c>delete</c> removes the sandbox's cgroup.
    /// </summary>
    public static Props Props(
        TaskProtocol.CreateTask create, ContainerPlanRead plan, SandboxCgroupPlan? sandboxCgroup, IActorRef replyTo, IActorRef events,
        WasmEngine engine, RuntimeSettings settings, SandboxNamespaces namespaces) =>
        Akka.Actor.Props.Create(() => new ContainerActor(create, plan, sandboxCgroup, replyTo, events, engine, settings, namespaces));

    /// <summary>
    /// The container was deleted (or its Create failed) and released its rootfs. It answers every command routed to it
    /// with NotFound until the sandbox replies <see cref="Forgotten"/>, then stops: commands the sandbox forwarded before
    /// it took the id out of its map are answered, never lost in dead letters.
    /// </summary>
    public sealed record ContainerDeleted(string ContainerId);

    /// <summary>The sandbox's reply to <see cref="ContainerDeleted"/>: nothing more will be routed to the container.</summary>
    public sealed record Forgotten
    {
        /// <summary>The one instance.</summary>
        public static readonly Forgotten Instance = new();
    }

    // The container's own messages: the outcome of its hooks, which run off the actor and report back.

    /// <summary>The create-time hooks (prestart, createRuntime, createContainer) all passed.</summary>
    internal sealed record HooksPassed(HookKind Kind);

    /// <summary>A create-time hook failed: Create fails.</summary>
    internal sealed record HooksFailed(HookKind Kind, string Message);

    /// <summary>The startContainer hooks passed: init starts and <paramref name="ReplyTo"/> hears Started.</summary>
    internal sealed record StartHooksPassed(IActorRef ReplyTo);

    /// <summary>A startContainer hook failed: Start fails and the container ends, as with runc.</summary>
    internal sealed record StartHooksFailed(IActorRef ReplyTo, string Message);
}
