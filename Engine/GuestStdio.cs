namespace WasmKata.Engine;

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
