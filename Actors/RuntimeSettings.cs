using WasmKata.Core.State;

namespace WasmKata.Actors;

/// <summary>Timing knobs of the actor tree; the defaults suit containerd's own timeouts.</summary>
public sealed record RuntimeSettings
{
    /// <summary>How long an exit waits for stdout/stderr to drain to their readers before it is reported anyway.</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How long <c>CloseIO</c> lets input already in the stdin FIFO through before closing the guest's stdin.</summary>
    public TimeSpan StdinCloseGrace { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>How long an orderly shutdown waits for guests to end after they were killed.</summary>
    public TimeSpan ShutdownGrace { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>The containerd namespace this shim serves (state is kept per namespace).</summary>
    public string Namespace { get; init; } = "";

    /// <summary>
    /// containerd's gRPC socket (the shim's <c>-address</c>), asked for a wasm OCI artifact's layer when a container's
    /// module is not in its rootfs; empty: no artifacts (a spec's own actor system, say).
    /// </summary>
    public string ContainerdAddress { get; init; } = "";

    /// <summary>Where container state is persisted for recovery after a crash.</summary>
    public string StateRoot { get; init; } = StateStore.DefaultRootPath;

    /// <summary>Whether SIGCHLD reaps orphaned children (the shim is a subreaper); specs sharing a process turn it off.</summary>
    public bool ReapOrphans { get; init; } = true;

    /// <summary>Bytes a guest may write ahead of its slowest output reader before it is held back.</summary>
    public int OutputBufferBytes { get; init; } = 1 << 20;

    /// <summary>
    /// How guests are started when they run in guest host processes (<c>guest_isolation = "process"</c>); null runs
    /// them as threads of the daemon (<c>"thread"</c>).
    /// </summary>
    public WasmProcess.GuestHostSettings? GuestHost { get; init; }
}
