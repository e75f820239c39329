using System.Globalization;

namespace WasmKata.Linux;

/// <summary>
/// The fields of <c>/proc/PID/stat</c> the shim reads (see proc_pid_stat(5)): the pid, the command name, field 3 (the
/// state letter, <c>Z</c> for a zombie), fields 4-6, the kernel's flags of field 9, the CPU times of fields 14-15 and
/// the start time of field 22, the times in clock ticks.
/// </summary>
public readonly record struct ProcStat(
    int Pid, string Command, char State, int ParentPid, int ProcessGroup, int Session, long UserTicks, long SystemTicks, long StartTicks,
    uint Flags = 0)
{
    // PF_EXITING (include/linux/sched.h): set when do_exit starts, before the process drops its files and long before
    // it turns into a zombie; a killed process with many threads or a big address space can spend a while in between.
    private const uint PfExiting = 0x4;

    /// <summary>The process is on its way out (killed or exiting); it will run no more code of its own.</summary>
    public bool IsExiting => (Flags & PfExiting) != 0;

    // Field 22 (start time) is the last one read; fields after the command name start at field 3.
    private const int FirstField = 3;
    private const int LastField = 22;

    /// <summary>The stat of process <paramref name="pid"/>; false when there is no such process (or it is not readable).</summary>
    public static bool TryRead(int pid, out ProcStat stat) =>
        TryReadFile($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat", out stat);

    /// <summary>The stat of thread <paramref name="tid"/> of this process; false once it has exited.</summary>
    internal static bool TryReadThread(int tid, out ProcStat stat) =>
        TryReadFile($"/proc/self/task/{tid.ToString(CultureInfo.InvariantCulture)}/stat", out stat);

    /// <summary>
    /// Parses a stat line. The command name may contain spaces and parentheses (it is whatever the process named
    /// itself), so it runs from the first '(' to the last ')' and the numbered fields are counted from there.
    /// </summary>
    internal static bool TryParse(string text, out ProcStat stat)
    {
        stat = default;
        var open = text.IndexOf(" (", StringComparison.Ordinal);
        var close = text.LastIndexOf(')');
        if (open <= 0 || close < open || close + 2 >= text.Length
            || !int.TryParse(text.AsSpan(0, open), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
        {
            return false;
        }

        var fields = text[(close + 2)..].TrimEnd('\n').Split(' ', LastField - FirstField + 2);
        if (fields.Length < LastField - FirstField + 1 || fields[0].Length != 1
            || !TryInt(fields, 4, out var ppid)
            || !TryInt(fields, 5, out var pgrp)
            || !TryInt(fields, 6, out var session)
            || !uint.TryParse(fields[9 - FirstField], NumberStyles.None, CultureInfo.InvariantCulture, out var flags)
            || !TryLong(fields, 14, out var utime)
            || !TryLong(fields, 15, out var stime)
            || !TryLong(fields, 22, out var start))
        {
            return false;
        }

        stat = new ProcStat(pid, text[(open + 2)..close], fields[0][0], ppid, pgrp, session, utime, stime, start, flags);
        return true;
    }

    private static bool TryReadFile(string path, out ProcStat stat)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Gone before or while it was read (ENOENT, or ESRCH mid-read).
            stat = default;
            return false;
        }

        return TryParse(text, out stat);
    }

    private static bool TryInt(string[] fields, int field, out int value) =>
        int.TryParse(fields[field - FirstField], NumberStyles.None, CultureInfo.InvariantCulture, out value);

    private static bool TryLong(string[] fields, int field, out long value) =>
        long.TryParse(fields[field - FirstField], NumberStyles.None, CultureInfo.InvariantCulture, out value);
}
