using System.Runtime.InteropServices;

namespace WasmKata.Linux;

internal static partial class Interop
{
    internal const int CLOCK_THREAD_CPUTIME_ID = 3;

    [StructLayout(LayoutKind.Sequential)]
    internal struct Timespec
    {
        internal long Seconds;
        internal long Nanoseconds;
    }

    [LibraryImport(Libc, EntryPoint = "clock_gettime", SetLastError = true)]
    internal static partial int ClockGetTime(int clockId, out Timespec time);

    /// <summary>The CPU-time clock of thread <paramref name="tid"/> of this process (the kernel's MAKE_THREAD_CPUCLOCK, CPUCLOCK_SCHED).</summary>
    internal static int ThreadCpuClock(int tid) => (~tid << 3) | 4 | 2;
}
