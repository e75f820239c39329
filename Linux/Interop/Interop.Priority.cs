using System.Runtime.InteropServices;

namespace WasmKata.Linux;

internal static partial class Interop
{
    internal const int PRIO_PROCESS = 0;

    // With PRIO_PROCESS and a thread id, Linux sets that one thread's nice value (its CFS weight).
    [LibraryImport(Libc, EntryPoint = "setpriority", SetLastError = true)]
    internal static partial int SetPriority(int which, uint who, int prio);
}
