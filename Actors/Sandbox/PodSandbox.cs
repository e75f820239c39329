using WasmKata.Core;

namespace WasmKata.Actors.Sandbox;

/// <summary>Where a sandbox driven through containerd's sandbox API is. It only moves forward.</summary>
public enum PodSandboxPhase
{
    /// <summary>CreateSandbox set up its namespaces; containers may not be started in it yet by CRI.</summary>
    Created,

    /// <summary>StartSandbox came: CRI reports the pod ready.</summary>
    Ready,

    /// <summary>StopSandbox came: its guests were killed and its waiters answered.</summary>
    Stopped,

    /// <summary>ShutdownSandbox came: the shim may exit once no container is left.</summary>
    ShutDown,
}

/// <summary>
/// The lifecycle of the one sandbox a shim serves through the sandbox API (containerd 2.x, <c>sandboxer = "shim"</c>),
/// as a pure value: each call returns the next state or a failure with the reason, and the actor does the effects.
/// Without it the shim is a plain task shim whose sandbox is its first container (a pause container under CRI).
/// </summary>
public sealed record PodSandbox(string Id, string Bundle, PodSandboxPhase Phase, DateTimeOffset CreatedAt, DateTimeOffset? ExitedAt)
{
    /// <summary>What CRI reads as a ready pod in SandboxStatus's <c>state</c> (its <c>SandboxState</c> enum names).</summary>
    public const string ReadyState = "SANDBOX_READY";

    /// <summary>Any sandbox not ready: created, stopped or shut down.</summary>
    public const string NotReadyState = "SANDBOX_NOTREADY";

    /// <summary>A sandbox stopped on purpose reports this exit status, as a pause container ended by SIGTERM does not: 0.</summary>
    public const uint StoppedExitStatus = 0;

    /// <summary>CreateSandbox of <paramref name="id"/> at <paramref name="now"/>.</summary>
    public static PodSandbox Create(string id, string bundle, DateTimeOffset now) => new(id, bundle, PodSandboxPhase.Created, now, null);

    /// <summary>The state string of SandboxStatus.</summary>
    public string State => Phase == PodSandboxPhase.Ready ? ReadyState : NotReadyState;

    /// <summary>Stopped or shut down: WaitSandbox answers at once.</summary>
    public bool HasExited => ExitedAt is not null;

    /// <summary>Until ShutdownSandbox the shim stays, even with no container (CRI creates them later, one by one).</summary>
    public bool HoldsShim => Phase != PodSandboxPhase.ShutDown;

    /// <summary>StartSandbox: a created sandbox becomes ready; a second start is harmless; a stopped one cannot start again.</summary>
    public (PodSandbox Next, CommandFailed? Failure) Start() => Phase switch
    {
        PodSandboxPhase.Created => (this with { Phase = PodSandboxPhase.Ready }, null),
        PodSandboxPhase.Ready => (this, null),
        _ => (this, new CommandFailed(FailureCode.FailedPrecondition, $"sandbox {Id} is {Phase.ToString().ToLowerInvariant()}: it cannot start again")),
    };

    /// <summary>Containers may be created in it until it is stopped.</summary>
    public CommandFailed? CanAddContainer(string containerId) => HasExited
        ? new CommandFailed(FailureCode.FailedPrecondition, $"container {containerId}: sandbox {Id} is {Phase.ToString().ToLowerInvariant()}")
        : null;

    /// <summary>StopSandbox at <paramref name="now"/>; stopping again changes nothing.</summary>
    public PodSandbox Stop(DateTimeOffset now) =>
        Phase is PodSandboxPhase.Created or PodSandboxPhase.Ready ? this with { Phase = PodSandboxPhase.Stopped, ExitedAt = now } : this;

    /// <summary>ShutdownSandbox at <paramref name="now"/>: stopped too, if it was not.</summary>
    public PodSandbox Shutdown(DateTimeOffset now) => this with { Phase = PodSandboxPhase.ShutDown, ExitedAt = ExitedAt ?? now };

    /// <summary>Every RPC names its sandbox: one this shim does not serve is not found.</summary>
    public static CommandFailed NotFound(string id) => new(FailureCode.NotFound, $"sandbox {id}: not found");
}
