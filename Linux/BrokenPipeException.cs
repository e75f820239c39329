namespace WasmKata.Linux;

/// <summary>A write found no reader left (EPIPE); callers usually switch to discarding output.</summary>
public sealed class BrokenPipeException : UnixException
{
    /// <summary>Creates the exception for a write to <paramref name="path"/>.</summary>
    public BrokenPipeException(string operation, string? path)
        : base(Interop.Errno.EPIPE, operation, path)
    {
    }
}
