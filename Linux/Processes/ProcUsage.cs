namespace WasmKata.Linux.Processes;

/// <summary>CPU time of a whole process from <c>/proc/PID/stat</c>, for a guest host's stats.</summary>
internal static class ProcUsage
{
    // USER_HZ: the unit of /proc/PID/stat's times on every Linux architecture we run on.
    private const long NsPerTick = 10_000_000;

    /// <summary>utime+stime in ns; 0 for a process that is gone.</summary>
    public static long CpuNs(int pid) =>
        ProcStat.TryRead(pid, out var stat) ? (stat.UserTicks + stat.SystemTicks) * NsPerTick : 0;
}
