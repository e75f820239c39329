namespace WasmKata.Linux.Cgroups;

/// <summary>A cgroup could not be created, limited, read or removed; the message names the cgroup and the cause.</summary>
public sealed class CgroupException : IOException
{
    /// <summary>Creates the exception; <paramref name="errno"/> is 0 when no system call failed.</summary>
    public CgroupException(string message, int errno = 0, Exception? inner = null)
        : base(message, inner)
    {
        Errno = errno;
    }

    /// <summary>The errno of the failed system call, or 0.</summary>
    public int Errno { get; }
}
