using System.Runtime.InteropServices;

namespace WasmKata.Specs.Linux;

/// <summary>The few raw calls the confinement specs make to see what a confined thread may still do.</summary>
internal static partial class Libc
{
    // Through syscall(2), which sets errno: glibc's getppid() cannot fail and returns the raw -EPERM of a filter.
    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static partial long Syscall0(long number);

    internal static int GetParentPid() => (int)Syscall0(110);

    [LibraryImport("libc", EntryPoint = "chown", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Chown(string path, uint uid, uint gid);

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Open(string path, int flags, uint mode);

    [LibraryImport("libc", EntryPoint = "close")]
    internal static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "mount", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Mount(string source, string target, string fsType, ulong flags, string? data);

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    internal static partial int Kill(int pid, int signal);

    [LibraryImport("libc", EntryPoint = "umount2", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Umount2(string target, int flags);

    [LibraryImport("libc", EntryPoint = "socket", SetLastError = true)]
    internal static partial int Socket(int domain, int type, int protocol);

    /// <summary>Opens and closes a socket of <paramref name="domain"/> (SOCK_STREAM, or SOCK_DGRAM for unix); 0 or the errno.</summary>
    internal static int TrySocket(int domain)
    {
        var fd = Socket(domain, 1 | OCloexec, 0);
        if (fd < 0)
            return Marshal.GetLastPInvokeError();
        Close(fd);
        return 0;
    }

    internal const int ORdOnly = 0;
    internal const int OWrOnly = 1;
    internal const int OCreat = 0x40;
    internal const int OCloexec = 0x80000;

    /// <summary>Opens and closes <paramref name="path"/>; 0 or the errno.</summary>
    internal static int TryOpen(string path, int flags)
    {
        var fd = Open(path, flags | OCloexec, 0x1a4);
        if (fd < 0)
            return Marshal.GetLastPInvokeError();
        Close(fd);
        return 0;
    }
}
