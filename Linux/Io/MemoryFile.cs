using Microsoft.Win32.SafeHandles;

namespace WasmKata.Linux.Io;

/// <summary>An anonymous file in memory (memfd), for handing bytes to a child process as an fd.</summary>
/// <remarks>
/// Not a path: a file under the container's rootfs would keep that mount busy while the child reads it, and a copy on
/// disk would need cleaning up after a child that was killed.
/// </remarks>
public static class MemoryFile
{
    /// <summary>A memfd named <paramref name="name"/> (close-on-exec) holding <paramref name="contents"/>; read it with pread from offset 0.</summary>
    public static SafeFileHandle Create(string name, ReadOnlySpan<byte> contents)
    {
        var fd = Interop.MemfdCreate(name, Interop.MFD_CLOEXEC);
        if (fd < 0)
            UnixErrors.ThrowLast("memfd_create", name);
        var handle = new SafeFileHandle(fd, ownsHandle: true);
        try
        {
            RandomAccess.Write(handle, contents, 0);
            return handle;
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }
}
