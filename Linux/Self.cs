using System.Globalization;

namespace WasmKata.Linux;

/// <summary>Facts about, and settings of, the current process.</summary>
public static class Self
{
    private const int SigPipe = 13;
    private static readonly Lazy<long> s_clockTicksPerSecond = new(() => Interop.Sysconf(Interop.SC_CLK_TCK));

    /// <summary>This process's pid.</summary>
    public static int Pid => Environment.ProcessId;

    /// <summary>The effective user id (who may talk to the shim's socket).</summary>
    public static uint EffectiveUserId => Interop.GetEffectiveUserId();

    /// <summary>The kernel thread id (gettid) of the calling thread.</summary>
    public static int GetThreadId() => Interop.GetTid();

    /// <summary>
    /// _exit(2): ends the process at once, without finalizers, flushing or waiting for other threads. The last resort of
    /// a daemon whose orderly exit overran its time bound.
    /// </summary>
    public static void ExitImmediately(int status) => Interop.Exit(status);

    /// <summary>
    /// prctl(PR_SET_CHILD_SUBREAPER): orphaned descendants are re-parented to this process instead of init,
    /// so it can reap them.
    /// </summary>
    public static void SetChildSubreaper()
    {
        if (Interop.Prctl(Interop.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0)
            UnixErrors.ThrowLast("prctl(PR_SET_CHILD_SUBREAPER)");
    }

    /// <summary>
    /// The process's name (the main thread's <c>comm</c>, what ps and /proc/PID/comm show; the kernel keeps 15 bytes),
    /// from any thread: prctl(PR_SET_NAME) would name only the calling one, and this writes the main thread's.
    /// </summary>
    public static void SetProcessName(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        File.WriteAllText("/proc/self/comm", name);
    }

    /// <summary>Whether <see cref="SetChildSubreaper"/> is in effect.</summary>
    internal static unsafe bool IsChildSubreaper
    {
        get
        {
            int value;
            if (Interop.Prctl(Interop.PR_GET_CHILD_SUBREAPER, (nuint)(&value), 0, 0, 0) != 0)
                UnixErrors.ThrowLast("prctl(PR_GET_CHILD_SUBREAPER)");

            return value != 0;
        }
    }

    /// <summary>
    /// User plus system CPU time of thread <paramref name="tid"/> of this process, in ns (clock-tick resolution, 10 ms);
    /// <see cref="ArgumentException"/> once the thread has exited.
    /// </summary>
    public static long ThreadCpuTimeNs(int tid)
    {
        // An exiting thread's stat file can also vanish or fail with ESRCH mid-read.
        if (!ProcStat.TryReadThread(tid, out var stat))
            throw new ArgumentException($"Thread {tid} is not (or no longer) a thread of this process.", nameof(tid));

        return (stat.UserTicks + stat.SystemTicks) * (1_000_000_000L / s_clockTicksPerSecond.Value);
    }

    /// <summary>Resident set size of this process in bytes, from /proc/self/statm.</summary>
    public static long ResidentSetBytes()
    {
        var fields = File.ReadAllText("/proc/self/statm").Split(' ');
        return long.Parse(fields[1], CultureInfo.InvariantCulture) * Environment.SystemPageSize;
    }

    /// <summary>Whether SIGPIPE is ignored (the .NET runtime does this), so writes to a closed pipe return EPIPE.</summary>
    internal static bool IsSigPipeIgnored()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith("SigIgn:", StringComparison.Ordinal))
            {
                var mask = ulong.Parse(line.AsSpan(7).Trim(), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                return (mask & (1UL << (SigPipe - 1))) != 0;
            }
        }

        return false;
    }
}
