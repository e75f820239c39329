using System.Globalization;

namespace WasmKata.Linux.Processes;

/// <summary>
/// Reaps the zombies a child subreaper inherits: descendants of processes we spawned whose own parent died first.
/// Children that somebody still waits for (see <see cref="Claimed"/>) are left alone.
/// </summary>
public static class ChildReaper
{
    // Spawning and claiming happen under this gate, so a reap can never slip in between posix_spawn and the claim.
    private static readonly Lock s_gate = new();
    private static readonly HashSet<int> s_claimed = [];
    private static readonly bool s_hasChildrenFiles = File.Exists($"/proc/self/task/{Environment.ProcessId}/children");

    /// <summary>Pids of natively spawned children whose owner will reap them itself (e.g. running OCI hooks).</summary>
    public static IReadOnlyCollection<int> Claimed
    {
        get
        {
            lock (s_gate)
            {
                return [.. s_claimed];
            }
        }
    }

    /// <summary>
    /// Reaps every zombie child of this process that is not claimed, not in <paramref name="exclude"/> and not in
    /// this process's session; returns how many it reaped. Call it on SIGCHLD. Never waits for a living child.
    /// </summary>
    /// <remarks>
    /// Children of <c>System.Diagnostics.Process</c> share our session (it never calls setsid), and .NET fails fast
    /// when somebody else reaps one of them, so a zombie in our session is never touched. Hooks are spawned in a
    /// session of their own, and setsid(2) can only create sessions, never join ours, so every orphan they leave
    /// behind is in a foreign session. Zombies of other natively spawned children the caller reaps itself belong
    /// in <paramref name="exclude"/>.
    /// </remarks>
    public static int ReapOrphans(IReadOnlySet<int>? exclude = null)
    {
        var session = Interop.GetSid(0);
        var reaped = 0;
        foreach (var pid in ListChildren())
        {
            if (exclude?.Contains(pid) == true)
                continue;

            lock (s_gate)
            {
                // Checked under the gate, where no claimed child can appear or be reaped by its owner.
                if (s_claimed.Contains(pid) || !IsReapableOrphan(pid, session))
                    continue;

                var result = Interop.WaitPid(pid, out _, Interop.WNOHANG);
                if (result == pid)
                    reaped++;
                else if (result < 0 && Interop.Errno.Last != Interop.Errno.ECHILD)
                    UnixErrors.ThrowLast("waitpid", $"pid {pid}");
            }
        }

        return reaped;
    }

    /// <summary>Runs <paramref name="spawn"/> and claims the pid it returns, atomically with respect to <see cref="ReapOrphans"/>.</summary>
    internal static int SpawnClaimed(Func<int> spawn)
    {
        lock (s_gate)
        {
            var pid = spawn();
            s_claimed.Add(pid);
            return pid;
        }
    }

    /// <summary>Drops the claim once the owner has reaped the child (or handed it over to <see cref="ReapOrphans"/>).</summary>
    internal static void Release(int pid)
    {
        lock (s_gate)
        {
            s_claimed.Remove(pid);
        }
    }

    /// <summary>
    /// Pids of this process's children, living or not: from every thread's <c>children</c> file (a subreaper's orphans
    /// are adopted by one of its threads), or, on kernels built without CONFIG_PROC_CHILDREN, from a scan of /proc.
    /// </summary>
    internal static IReadOnlyCollection<int> ListChildren() => s_hasChildrenFiles ? ListFromTaskFiles() : ListFromProcScan();

    internal static IReadOnlyCollection<int> ListFromTaskFiles()
    {
        var found = new HashSet<int>();
        foreach (var task in Directory.EnumerateDirectories("/proc/self/task"))
        {
            string text;
            try
            {
                text = File.ReadAllText(task + "/children");
            }
            catch (IOException)
            {
                continue; // The thread exited; its children moved to a thread we read anyway.
            }

            foreach (var field in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                if (int.TryParse(field, NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
                    found.Add(pid);
            }
        }

        return found;
    }

    internal static IReadOnlyCollection<int> ListFromProcScan()
    {
        var self = Environment.ProcessId;
        var found = new List<int>();
        foreach (var entry in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(entry.AsSpan(6), NumberStyles.None, CultureInfo.InvariantCulture, out var pid)
                && ProcStat.TryRead(pid, out var stat) && stat.ParentPid == self)
            {
                found.Add(pid);
            }
        }

        return found;
    }

    /// <summary>A child of ours that has exited (peeked with WNOWAIT, so nothing is consumed) outside <paramref name="session"/>.</summary>
    private static unsafe bool IsReapableOrphan(int pid, int session)
    {
        // getsid(2) still answers for a zombie: it keeps its session until reaped.
        var sid = Interop.GetSid(pid);
        if (sid < 0 || sid == session)
            return false;

        var info = default(Interop.SigInfo);
        return Interop.WaitId(Interop.P_PID, (uint)pid, &info, Interop.WEXITED | Interop.WNOHANG | Interop.WNOWAIT) == 0 && info.Pid == pid;
    }
}
