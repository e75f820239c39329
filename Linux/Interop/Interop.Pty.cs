using System.Runtime.InteropServices;

namespace WasmKata.Linux;

internal static partial class Interop
{
    internal const int O_NOCTTY = 0x100;
    internal const nuint TIOCGWINSZ = 0x5413;
    internal const nuint TIOCSWINSZ = 0x5414;

    /// <summary><c>struct winsize</c>.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct WinSize
    {
        internal ushort Rows;
        internal ushort Columns;
        internal ushort XPixels;
        internal ushort YPixels;
    }

    [LibraryImport(Libc, EntryPoint = "posix_openpt", SetLastError = true)]
    internal static partial int PosixOpenPt(int flags);

    [LibraryImport(Libc, EntryPoint = "grantpt", SetLastError = true)]
    internal static partial int GrantPt(SafeFdHandle master);

    [LibraryImport(Libc, EntryPoint = "unlockpt", SetLastError = true)]
    internal static partial int UnlockPt(SafeFdHandle master);

    /// <summary>ptsname_r(3): returns 0 or an errno (not -1).</summary>
    [LibraryImport(Libc, EntryPoint = "ptsname_r")]
    internal static unsafe partial int PtsNameR(SafeFdHandle master, byte* buffer, nuint length);

    /// <summary>ioctl(2) with a <c>struct winsize</c> (TIOCGWINSZ, TIOCSWINSZ).</summary>
    [LibraryImport(Libc, EntryPoint = "ioctl", SetLastError = true)]
    internal static partial int Ioctl(SafeFdHandle fd, nuint request, ref WinSize size);
}
