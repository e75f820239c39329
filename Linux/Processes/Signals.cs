namespace WasmKata.Linux.Processes;

/// <summary>Sending signals to, and probing, other processes by pid.</summary>
public static class Signals
{
    private const int MaxSignal = 64;

    /// <summary>kill(2); false when the process no longer exists (ESRCH). Refuses pid ≤ 0, which would signal groups.</summary>
    public static bool TrySend(int pid, int signal)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(pid);
        ArgumentOutOfRangeException.ThrowIfNegative(signal);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(signal, MaxSignal);
        if (Interop.Kill(pid, signal) == 0)
            return true;

        var errno = Interop.Errno.Last;
        if (errno == Interop.Errno.ESRCH)
            return false;

        throw new UnixException(errno, $"kill(signal {signal})", $"pid {pid}");
    }

    /// <summary>kill(pid, 0): true while the pid exists, including as an unreaped zombie.</summary>
    public static bool IsAlive(int pid)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(pid);
        return Interop.Kill(pid, 0) == 0 || Interop.Errno.Last == Interop.Errno.EPERM;
    }

    /// <summary>
    /// Alive and not dying: <see cref="IsAlive"/>, and /proc shows neither a zombie nor a process already in exit (the
    /// window between a SIGKILL and the zombie, in which its sockets may close already). /proc is trusted only when it shows this
    /// process's own pid namespace (a process started into another one with nsenter still sees the host's /proc).
    /// </summary>
    public static bool IsRunning(int pid)
    {
        if (!IsAlive(pid))
            return false;

        var ownPidNamespace = Path.GetFileName(Directory.ResolveLinkTarget("/proc/self", returnFinalTarget: false)?.FullName)
            == Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture);

        // A pid /proc cannot read any more has gone meanwhile.
        return !ownPidNamespace || (ProcStat.TryRead(pid, out var stat) && stat.State != 'Z' && !stat.IsExiting);
    }

    /// <summary>waitpid(pid, WNOHANG) for a child this process started natively; true once it was reaped.</summary>
    internal static bool TryReap(int pid, out int status)
    {
        var result = Interop.WaitPid(pid, out status, Interop.WNOHANG);
        if (result < 0)
            UnixErrors.ThrowLast("waitpid", $"pid {pid}");

        return result == pid;
    }
}
