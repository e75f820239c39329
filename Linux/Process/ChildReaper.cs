using System.Globalization;

namespace WasmKata.Linux.Process;

/// <summary>
/// Reaps the zombies a child subreaper inherits: descendants of processes we spawned whose own parent died first.
/// Children that somebody still waits for (see <see cref="Claimed"/>) are left alone.
/// </summary>
public static class ChildReaper
{
    // Spawning and claiming happen under this gate, so a reap can never slip in between posix_spawn and the claim.
    private static readonly Lock s_gate = new();
    private static readonly HashSet<int> s_claimed = [];

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
        var self = Environment.ProcessId;
        var session = Interop.GetSid(0);
        var reaped = 0;
        foreach (var pid in ZombieChildren(self, session))
        {
            if (exclude?.Contains(pid) == true)
            {
                continue;
            }

            lock (s_gate)
            {
                // Re-checked under the gate: the pid could have been reaped by its owner and reused in between.
                if (s_claimed.Contains(pid) || !IsReapable(pid, self, session))
                {
                    continue;
                }

                var result = Interop.WaitPid(pid, out _, Interop.WNOHANG);
                if (result == pid)
                {
                    reaped++;
                }
                else if (result < 0 && Interop.Errno.Last != Interop.Errno.ECHILD)
                {
                    UnixErrors.ThrowLast("waitpid", $"pid {pid}");
                }
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

    /// <summary>Zombie children of <paramref name="self"/> outside <paramref name="session"/>, from a scan of /proc.</summary>
    private static List<int> ZombieChildren(int self, int session)
    {
        var found = new List<int>();
        foreach (var entry in Directory.EnumerateDirectories("/proc"))
        {
            var name = entry.AsSpan(6);
            if (int.TryParse(name, NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && IsReapable(pid, self, session))
            {
                found.Add(pid);
            }
        }

        return found;
    }

    private static bool IsReapable(int pid, int self, int session) =>
        TryReadStat(pid, out var stat) && stat.State == 'Z' && stat.ParentPid == self && stat.Session != session;

    private static bool TryReadStat(int pid, out ProcStat stat)
    {
        string text;
        try
        {
            text = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Gone between the directory scan and the read (ENOENT, or ESRCH mid-read).
            stat = default;
            return false;
        }

        return ProcStat.TryParse(text, out stat);
    }

    /// <summary>Fields 3-6 of /proc/[pid]/stat.</summary>
    internal readonly record struct ProcStat(char State, int ParentPid, int ProcessGroup, int Session)
    {
        /// <summary>Parses a stat line; the command name may contain spaces and ')', so fields are counted from the last ')'.</summary>
        internal static bool TryParse(string text, out ProcStat stat)
        {
            stat = default;
            var close = text.LastIndexOf(')');
            if (close < 0 || close + 2 >= text.Length)
            {
                return false;
            }

            var fields = text[(close + 2)..].Split(' ', 5);
            if (fields.Length < 5 || fields[0].Length != 1
                || !int.TryParse(fields[1], NumberStyles.None, CultureInfo.InvariantCulture, out var ppid)
                || !int.TryParse(fields[2], NumberStyles.None, CultureInfo.InvariantCulture, out var pgrp)
                || !int.TryParse(fields[3], NumberStyles.None, CultureInfo.InvariantCulture, out var session))
            {
                return false;
            }

            stat = new ProcStat(fields[0][0], ppid, pgrp, session);
            return true;
        }
    }
}
