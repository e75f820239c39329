using WasmKata.Linux.Namespaces;

namespace WasmKata.Actors.Sandbox;

/// <summary>
/// The sandbox API (containerd 2.x's <c>sandboxer = "shim"</c>) as the sandbox actor takes it: the sandbox itself is
/// created, started, stopped and shut down apart from its containers, with no pause container. Replies are the records
/// below, <see cref="TaskProtocol.Done"/>, or a <see cref="CommandFailed"/>.
/// </summary>
public static class PodSandboxProtocol
{
    /// <summary>A command for the sandbox named <see cref="SandboxId"/>; another id is not found.</summary>
    public interface IPodSandboxCommand
    {
        /// <summary>The sandbox the command is for.</summary>
        string SandboxId { get; }
    }

    /// <summary>
    /// Create the sandbox: join or create the namespaces its guests share (the pod's network namespace, a UTS one
    /// named <paramref name="Hostname"/>, an IPC one). Replies <see cref="TaskProtocol.Done"/>.
    /// </summary>
    public sealed record CreatePodSandbox(string SandboxId, string Bundle, IReadOnlyList<NamespaceRequest> Namespaces, string Hostname) : IPodSandboxCommand;

    /// <summary>Make the created sandbox ready. Replies <see cref="PodSandboxStarted"/>.</summary>
    public sealed record StartPodSandbox(string SandboxId) : IPodSandboxCommand;

    /// <summary>Read the sandbox's state. Replies <see cref="PodSandboxView"/>.</summary>
    public sealed record QueryPodSandbox(string SandboxId) : IPodSandboxCommand;

    /// <summary>Reply once the sandbox is stopped (at once if it is). Replies <see cref="PodSandboxExited"/>.</summary>
    public sealed record WaitPodSandbox(string SandboxId) : IPodSandboxCommand;

    /// <summary>Stop the sandbox: kill every guest left in it and answer its waiters. Replies <see cref="TaskProtocol.Done"/>.</summary>
    public sealed record StopPodSandbox(string SandboxId) : IPodSandboxCommand;

    /// <summary>
    /// containerd is done with the sandbox: stop it and let the shim exit once no container is left. Replies
    /// <see cref="TaskProtocol.Done"/>; the shim's lifecycle then asks <see cref="TaskProtocol.RequestShutdown"/>.
    /// </summary>
    public sealed record ShutdownPodSandbox(string SandboxId) : IPodSandboxCommand;

    /// <summary>Reply to <see cref="StartPodSandbox"/>: the pid whose namespaces CRI gives the containers (the shim's).</summary>
    public sealed record PodSandboxStarted(uint Pid, DateTimeOffset CreatedAt);

    /// <summary>Reply to <see cref="QueryPodSandbox"/>.</summary>
    public sealed record PodSandboxView(string SandboxId, uint Pid, string State, DateTimeOffset CreatedAt, DateTimeOffset? ExitedAt, int Containers);

    /// <summary>Reply to <see cref="WaitPodSandbox"/>.</summary>
    public sealed record PodSandboxExited(uint ExitStatus, DateTimeOffset ExitedAt);
}
