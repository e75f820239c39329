using System.Runtime.InteropServices;

namespace WasmKata.Linux;

internal static partial class Interop
{
    internal const int O_CREAT = 0x40;
    internal const int LOCK_EX = 2;
    internal const int LOCK_NB = 4;

    [LibraryImport(Libc, EntryPoint = "flock", SetLastError = true)]
    internal static partial int Flock(SafeFdHandle fd, int operation);
}
