namespace WasmKata.Linux;

/// <summary>The nice value of one thread of this process: its weight when the kernel shares a CPU between threads.</summary>
public static class ThreadNice
{
    /// <summary>The CFS weight of nice 0, as cgroup v1 cpu.shares counts it.</summary>
    public const ulong DefaultShares = 1024;

    /// <summary>
    /// Sets thread <paramref name="tid"/>'s nice value (-20..19; below 0 needs CAP_SYS_NICE). Throws
    /// <see cref="ArgumentException"/> when the thread is gone.
    /// </summary>
    public static void SetNice(int tid, int nice)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(tid);
        ArgumentOutOfRangeException.ThrowIfLessThan(nice, -20);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(nice, 19);
        if (Interop.SetPriority(Interop.PRIO_PROCESS, (uint)tid, nice) == 0)
            return;
        var errno = Interop.Errno.Last;
        if (errno == Interop.Errno.ESRCH)
            throw new ArgumentException($"Thread {tid} no longer exists.", nameof(tid));
        UnixErrors.Throw(errno, "setpriority");
    }

    /// <summary>
    /// The nice value whose CFS weight is closest to <paramref name="shares"/> (cgroup v1 cpu.shares, 1024 = nice 0): the
    /// kernel's weight table steps by about 1.25 per nice level.
    /// </summary>
    public static int NiceForShares(ulong shares)
    {
        var ratio = Math.Max(shares, 2) / (double)DefaultShares;
        return (int)Math.Clamp(Math.Round(-Math.Log(ratio) / Math.Log(1.25)), -20, 19);
    }
}
