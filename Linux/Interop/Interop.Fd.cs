using System.Runtime.InteropServices;

namespace WasmKata.Linux;

internal static partial class Interop
{
    internal const int O_RDONLY = 0;
    internal const int O_WRONLY = 1;
    internal const int O_RDWR = 2;
    internal const int O_NONBLOCK = 0x800;
    internal const int O_CLOEXEC = 0x80000;

    internal const int F_DUPFD = 0;
    internal const int F_GETFD = 1;
    internal const int F_SETFD = 2;
    internal const int F_GETFL = 3;
    internal const int F_SETFL = 4;
    internal const int F_DUPFD_CLOEXEC = 1030;
    internal const int F_SETPIPE_SZ = 1031;
    internal const int FD_CLOEXEC = 1;

    /// <summary>open(2); an invalid handle means failure, with errno available from <see cref="Errno.Last"/>.</summary>
    internal static SafeFdHandle Open(string path, int flags, uint mode) => new(OpenRaw(path, flags, mode), ownsHandle: true);

    // Returns int, not a SafeHandle: the marshaller would read all of rax and turn -1 into 0xFFFFFFFF.
    // open(2) is variadic; on x86-64 passing the optional mode as a fixed third argument is ABI compatible.
    [LibraryImport(Libc, EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int OpenRaw(string path, int flags, uint mode);

    [LibraryImport(Libc, EntryPoint = "close", SetLastError = true)]
    internal static partial int Close(int fd);

    [LibraryImport(Libc, EntryPoint = "read", SetLastError = true)]
    internal static unsafe partial nint Read(SafeFdHandle fd, byte* buffer, nuint count);

    [LibraryImport(Libc, EntryPoint = "write", SetLastError = true)]
    internal static unsafe partial nint Write(SafeFdHandle fd, byte* buffer, nuint count);

    [LibraryImport(Libc, EntryPoint = "pipe2", SetLastError = true)]
    internal static unsafe partial int Pipe2(int* fds, int flags);

    [LibraryImport(Libc, EntryPoint = "fcntl", SetLastError = true)]
    internal static partial int Fcntl(SafeHandle fd, int command, int argument);

    [LibraryImport(Libc, EntryPoint = "fcntl", SetLastError = true)]
    internal static partial int Fcntl(int fd, int command, int argument);

    [LibraryImport(Libc, EntryPoint = "mkfifo", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int MkFifo(string path, uint mode);

    [LibraryImport(Libc, EntryPoint = "realpath", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial nint RealPath(string path, nint resolved);

    [LibraryImport(Libc, EntryPoint = "free")]
    internal static partial void Free(nint pointer);

    [LibraryImport(Libc, EntryPoint = "chmod", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Chmod(string path, uint mode);

    [LibraryImport(Libc, EntryPoint = "mkdir", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Mkdir(string path, uint mode);
}
