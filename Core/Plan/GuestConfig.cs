namespace WasmKata.Core.Plan;

/// <summary>What one guest sees: its argv, environment, filesystem and memory limit.</summary>
/// <param name="Args">The full argv, args[0] included.</param>
/// <param name="Env">Exactly these variables, in this order (split from OCI <c>KEY=VALUE</c> on the first '='); the
/// planner adds <c>PWD</c> for a working directory other than <c>/</c> (<see cref="GuestPlan.WithPwd"/>).</param>
/// <param name="RootfsPath">Host directory preopened as the guest's <c>/</c>; nothing outside it is reachable.</param>
/// <param name="RootfsReadOnly">Whether the guest may not change the rootfs.</param>
/// <param name="Cwd">Guest working directory, normalized; it must be a directory of the rootfs or of a mount, and is
/// never a preopen of its own (absolute paths always mean the rootfs).</param>
/// <param name="Preopens">Extra host directories (mounts), preopened after the rootfs.</param>
/// <param name="MemoryLimitBytes">Most linear memory the guest may grow to; a larger <c>memory.grow</c> returns -1.</param>
/// <param name="OutgoingHttp">Whether a component guest gets <c>wasi:http/outgoing-handler</c> (see <see cref="GuestPlan.OutgoingHttp"/>).</param>
public sealed record GuestConfig(
    IReadOnlyList<string> Args,
    IReadOnlyList<KeyValuePair<string, string>> Env,
    string RootfsPath,
    bool RootfsReadOnly,
    string Cwd,
    IReadOnlyList<Preopen> Preopens,
    long? MemoryLimitBytes,
    bool OutgoingHttp = false)
{
    /// <summary>The window a terminal starts with (columns, rows), from <c>process.consoleSize</c>; null leaves it 0x0.</summary>
    public (ushort Columns, ushort Rows)? ConsoleSize { get; init; }
}

/// <summary>A host directory visible to the guest at <paramref name="GuestPath"/>.</summary>
/// <param name="HostPath">The host directory.</param>
/// <param name="GuestPath">Where the guest sees it, e.g. <c>/data</c>.</param>
/// <param name="ReadOnly">Whether the guest may not change it.</param>
public sealed record Preopen(string HostPath, string GuestPath, bool ReadOnly);
