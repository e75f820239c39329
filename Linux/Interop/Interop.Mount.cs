using System.Runtime.InteropServices;

namespace WasmKata.Linux;

internal static partial class Interop
{
    internal const ulong MS_RDONLY = 0x1;
    internal const ulong MS_NOSUID = 0x2;
    internal const ulong MS_NODEV = 0x4;
    internal const ulong MS_NOEXEC = 0x8;
    internal const ulong MS_SYNCHRONOUS = 0x10;
    internal const ulong MS_REMOUNT = 0x20;
    internal const ulong MS_MANDLOCK = 0x40;
    internal const ulong MS_DIRSYNC = 0x80;
    internal const ulong MS_NOATIME = 0x400;
    internal const ulong MS_NODIRATIME = 0x800;
    internal const ulong MS_BIND = 0x1000;
    internal const ulong MS_REC = 0x4000;
    internal const ulong MS_RELATIME = 0x200000;
    internal const ulong MS_STRICTATIME = 0x1000000;

    internal const int MNT_DETACH = 2;

    [LibraryImport(Libc, EntryPoint = "mount", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Mount(string? source, string target, string? fsType, ulong flags, string? data);

    [LibraryImport(Libc, EntryPoint = "umount2", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Umount2(string target, int flags);
}
