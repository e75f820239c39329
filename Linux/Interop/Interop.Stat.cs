using System.Runtime.InteropServices;

namespace WasmKata.Linux;

internal static partial class Interop
{
    internal const int AT_FDCWD = -100;
    internal const int AT_SYMLINK_NOFOLLOW = 0x100;
    internal const uint STATX_TYPE = 0x1;
    internal const uint STATX_MODE = 0x2;
    internal const int S_IFMT = 0xF000;
    internal const int S_IFSOCK = 0xC000;
    internal const int S_IFIFO = 0x1000;

    // struct statx is 256 bytes; stx_mode is the u16 at offset 28.
    internal const int StatxSize = 256;
    internal const int StatxModeOffset = 28;

    [LibraryImport(Libc, EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static unsafe partial int Statx(int dirFd, string path, int flags, uint mask, byte* buffer);

    /// <summary>The S_IFMT bits of <paramref name="path"/> (not following a final symlink), or -1 with errno set.</summary>
    internal static int FileType(string path)
    {
        var mode = StatMode(path);
        return mode < 0 ? -1 : mode & S_IFMT;
    }

    /// <summary>st_mode of <paramref name="path"/> (not following a final symlink), or -1 with errno set.</summary>
    internal static unsafe int StatMode(string path)
    {
        var buffer = stackalloc byte[StatxSize];
        if (Statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_TYPE | STATX_MODE, buffer) != 0)
            return -1;

        return *(ushort*)(buffer + StatxModeOffset);
    }
}
