using System.Diagnostics.CodeAnalysis;

namespace WasmKata.Linux;

/// <summary>Throw helpers that turn errno into the most specific exception.</summary>
internal static class UnixErrors
{
    /// <summary>Throws for the errno of the last failed P/Invoke.</summary>
    [DoesNotReturn]
    internal static void ThrowLast(string operation, string? path = null) =>
        throw Create(Interop.Errno.Last, operation, path);

    [DoesNotReturn]
    internal static void Throw(int errno, string operation, string? path = null) =>
        throw Create(errno, operation, path);

    internal static Exception Create(int errno, string operation, string? path) => errno switch
    {
        Interop.Errno.ENOENT when path is not null =>
            new FileNotFoundException(UnixException.FormatMessage(errno, operation, path), path),
        Interop.Errno.EPIPE => new BrokenPipeException(operation, path),
        _ => new UnixException(errno, operation, path),
    };
}
