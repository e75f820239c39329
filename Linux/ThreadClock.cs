namespace WasmKata.Linux;

/// <summary>Nanosecond CPU-time clocks of this process's threads (clock_gettime), cheap enough to read at every epoch tick.</summary>
public static class ThreadClock
{
    /// <summary>User plus system CPU time of the calling thread in ns.</summary>
    public static long CurrentThreadCpuTimeNs() => Read(Interop.CLOCK_THREAD_CPUTIME_ID, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");

    /// <summary>
    /// User plus system CPU time in ns of thread <paramref name="tid"/> of this process, from any thread;
    /// <see cref="ArgumentException"/> once the thread has exited (or when it is not a thread of this process).
    /// </summary>
    public static long CpuTimeNs(int tid)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(tid);
        if (Interop.ClockGetTime(Interop.ThreadCpuClock(tid), out var time) != 0)
        {
            var errno = Interop.Errno.Last;
            if (errno == Interop.Errno.EINVAL || errno == Interop.Errno.ESRCH)
                throw new ArgumentException($"Thread {tid} is not (or no longer) a thread of this process.", nameof(tid));

            UnixErrors.Throw(errno, "clock_gettime(thread cpu clock)");
        }

        return time.Seconds * 1_000_000_000L + time.Nanoseconds;
    }

    private static long Read(int clock, string operation)
    {
        if (Interop.ClockGetTime(clock, out var time) != 0)
            UnixErrors.ThrowLast(operation);

        return time.Seconds * 1_000_000_000L + time.Nanoseconds;
    }
}
