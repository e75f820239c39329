using Akka.Actor;
using WasmKata.Actors.Engine;
using WasmKata.Linux.Namespaces;

namespace WasmKata.Actors.Container;

/// <summary>One container: its rootfs, its spec and its processes.</summary>
public static class ContainerProtocol
{
    /// <summary>The actor that carries out <paramref name="create"/> and answers <paramref name="replyTo"/>.</summary>
    public static Props Props(
        TaskProtocol.CreateTask create, IActorRef replyTo, IActorRef events, WasmEngine engine, RuntimeSettings settings, SandboxNamespaces namespaces) =>
        Akka.Actor.Props.Create(() => new ContainerActor(create, replyTo, events, engine, settings, namespaces));

    /// <summary>The container was deleted and released its rootfs; it stops next.</summary>
    public sealed record ContainerDeleted(string ContainerId);
}
