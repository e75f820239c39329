namespace WasmKata.Linux;

/// <summary>The nice value of one thread of this process: its weight when the kernel shares a CPU between threads.</summary>
public static class ThreadNice
{
    /// <summary>The CFS weight of nice 0, as cgroup v1 cpu.shares counts it.</summary>
    public const ulong DefaultShares = 1024;

    /// <summary>The nicest value: the smallest share of a contended CPU.</summary>
    public const int Max = 19;

    /// <summary>The least nice value (needs CAP_SYS_NICE).</summary>
    public const int Min = -20;

    /// <summary>The nice value threads start with.</summary>
    public const int Default = 0;

    /// <summary>
    /// Sets thread <paramref name="tid"/>'s nice value (-20..19; below 0 needs CAP_SYS_NICE). Throws
    /// <see cref="ArgumentException"/> when the thread is gone.
    /// </summary>
    public static void SetNice(int tid, int nice)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(tid);
        ArgumentOutOfRangeException.ThrowIfLessThan(nice, Min);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(nice, Max);
        if (Interop.SetPriority(Interop.PRIO_PROCESS, (uint)tid, nice) == 0)
            return;

        var errno = Interop.Errno.Last;
        if (errno == Interop.Errno.ESRCH)
            throw new ArgumentException($"Thread {tid} no longer exists.", nameof(tid));

        UnixErrors.Throw(errno, "setpriority");
    }

    /// <summary>
    /// Sets every thread of this process to <paramref name="nice"/>; threads started meanwhile by a thread not yet
    /// changed inherit the old value, so it goes over /proc/self/task until a pass finds nothing new.
    /// </summary>
    public static void SetAllThreads(int nice)
    {
        var done = new HashSet<int>();
        for (var pass = 0; pass < 10; pass++)
        {
            var changed = false;
            foreach (var entry in Directory.EnumerateDirectories("/proc/self/task"))
            {
                if (!int.TryParse(Path.GetFileName(entry), out var tid) || !done.Add(tid))
                    continue;

                changed = true;
                try
                {
                    SetNice(tid, nice);
                }
                catch (ArgumentException)
                {
                    // Exited while we looked.
                }
            }

            if (!changed)
                return;
        }
    }

    /// <summary>
    /// The nice value whose CFS weight is closest to <paramref name="shares"/> (cgroup v1 cpu.shares, 1024 = nice 0): the
    /// kernel's weight table steps by about 1.25 per nice level.
    /// </summary>
    public static int NiceForShares(ulong shares)
    {
        var ratio = Math.Max(shares, 2) / (double)DefaultShares;
        return (int)Math.Clamp(Math.Round(-Math.Log(ratio) / Math.Log(1.25)), Min, Max);
    }
}
