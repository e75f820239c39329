namespace WasmKata.Actors.Engine;

/// <summary>What one guest sees: its argv, environment, filesystem and memory limit.</summary>
/// <param name="Args">The full argv, args[0] included.</param>
/// <param name="Env">Exactly these variables, in this order (split from OCI <c>KEY=VALUE</c> on the first '=').</param>
/// <param name="RootfsPath">Host directory preopened as the guest's <c>/</c>; nothing outside it is reachable.</param>
/// <param name="RootfsReadOnly">Whether the guest may not change the rootfs.</param>
/// <param name="Cwd">Guest working directory; when not <c>/</c> it is also preopened as <c>.</c> for older wasi-libc.</param>
/// <param name="Preopens">Extra host directories (mounts), preopened after the rootfs.</param>
/// <param name="MemoryLimitBytes">Most linear memory the guest may grow to; a larger <c>memory.grow</c> returns -1.</param>
public sealed record GuestConfig(
    IReadOnlyList<string> Args,
    IReadOnlyList<KeyValuePair<string, string>> Env,
    string RootfsPath,
    bool RootfsReadOnly,
    string Cwd,
    IReadOnlyList<Preopen> Preopens,
    long? MemoryLimitBytes);

/// <summary>A host directory visible to the guest at <paramref name="GuestPath"/>.</summary>
/// <param name="HostPath">The host directory.</param>
/// <param name="GuestPath">Where the guest sees it, e.g. <c>/data</c>.</param>
/// <param name="ReadOnly">Whether the guest may not change it.</param>
public sealed record Preopen(string HostPath, string GuestPath, bool ReadOnly);

/// <summary>Where a guest's standard streams go.</summary>
/// <param name="StdinPath">A host path Wasmtime opens as stdin (e.g. <c>/proc/self/fd/N</c> of a pipe); null is empty stdin.</param>
/// <param name="Stdout">Receives stdout; null discards it.</param>
/// <param name="Stderr">Receives stderr; null discards it.</param>
public sealed record GuestStdio(string? StdinPath, IGuestOutput? Stdout, IGuestOutput? Stderr);

/// <summary>Receives what a guest writes to one of its output streams.</summary>
/// <remarks>
/// Called on the guest's own thread (our <c>fd_write</c>), one call at a time; it may block for backpressure. Output
/// that reaches Wasmtime's WASI instead (e.g. <c>fd_pwrite</c>) arrives on a Wasmtime thread. An exception from the
/// shadowed path fails that <c>fd_write</c> with EIO; from Wasmtime's, it is logged and the data dropped.
/// </remarks>
public interface IGuestOutput
{
    /// <summary>Takes the bytes; <paramref name="data"/> is valid only during the call.</summary>
    void Write(ReadOnlySpan<byte> data);
}
