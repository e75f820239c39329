namespace WasmKata.Linux;

/// <summary>A failed Linux system call: carries errno and names the operation and, when there is one, the path.</summary>
public class UnixException : IOException
{
    /// <summary>Creates the exception with the standard "operation 'path' failed: text (ENAME)" message.</summary>
    public UnixException(int errno, string operation, string? path = null)
        : this(errno, operation, path, FormatMessage(errno, operation, path))
    {
    }

    /// <summary>For subclasses that describe the failing object themselves.</summary>
    protected UnixException(int errno, string operation, string? path, string message)
        : base(message)
    {
        Errno = errno;
        Operation = operation;
        Path = path;
        HResult = errno;
    }

    /// <summary>The Linux errno value.</summary>
    public int Errno { get; }

    /// <summary>The errno symbol, e.g. <c>ENOENT</c>.</summary>
    public string ErrnoName => Interop.Errno.Name(Errno);

    /// <summary>The failing operation, e.g. <c>open</c> or <c>mount</c>.</summary>
    public string Operation { get; }

    /// <summary>The path the operation worked on, if any.</summary>
    public string? Path { get; }

    internal static string FormatMessage(int errno, string operation, string? path) => path is null
        ? $"{operation} failed: {Interop.Errno.Describe(errno)}"
        : $"{operation} '{path}' failed: {Interop.Errno.Describe(errno)}";
}
