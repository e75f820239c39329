namespace WasmKata.Inspection;

/// <summary>How a shim daemon takes part in the host's inspection cluster.</summary>
public sealed record InspectionOptions
{
    /// <summary>The sandbox id the shim was started for (containerd's <c>-id</c>).</summary>
    public string ShimId { get; init; } = "";

    /// <summary>The containerd namespace.</summary>
    public string Namespace { get; init; } = "";

    /// <summary>The shim's bundle directory.</summary>
    public string Bundle { get; init; } = "";

    /// <summary>Turns inspection off for the shims that see it set to <c>off</c> (containerd passes its environment on).</summary>
    public const string SwitchVariable = "WASMKATA_INSPECT";

    /// <summary>Off: no inspection at all (nothing is started, nothing registered). On unless <see cref="SwitchVariable"/> is <c>off</c>.</summary>
    public bool Enabled { get; init; } = Environment.GetEnvironmentVariable(SwitchVariable) is not ("off" or "0" or "false");

    /// <summary>Names a live-address directory other than the default (for specs and private set-ups), for shims and CLI alike.</summary>
    public const string DirectoryVariable = "WASMKATA_INSPECT_DIR";

    /// <summary>The live-address directory: <see cref="DirectoryVariable"/> if set, else <c>/run/wasmkata/inspect</c>.</summary>
    public string Directory { get; init; } = DefaultDirectory();

    /// <summary>The directory shims register in when nobody says otherwise.</summary>
    public static string DefaultDirectory() =>
        Environment.GetEnvironmentVariable(DirectoryVariable) is { Length: > 0 } path ? path : InspectionDirectory.DefaultPath;

    /// <summary>The path of the sandbox actor in the shim's actor system.</summary>
    public string SandboxPath { get; init; } = "/user/sandbox";

    /// <summary>
    /// Whether the inspection system waits, dormant, for the first CLI to ring the shim's bell (<see cref="InspectionBell"/>)
    /// instead of starting at once: a sandbox nobody inspects never pays the CPU, memory and threads of remoting, TLS and
    /// the cluster. A dormant shim is listed all the same; the CLI wakes it, which costs that one call ~0.1-0.5 s.
    /// </summary>
    public bool OnDemand { get; init; } = true;

    /// <summary>How long a snapshot may take before the gateway gives up on it.</summary>
    public TimeSpan SnapshotTimeout { get; init; } = TimeSpan.FromSeconds(3);

    /// <summary>How often the janitor reads the directory to join and to down members whose shim is gone.</summary>
    public TimeSpan JanitorInterval { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>How long the shim waits to leave the cluster on exit before it just goes.</summary>
    public TimeSpan LeaveTimeout { get; init; } = TimeSpan.FromSeconds(2);
}
