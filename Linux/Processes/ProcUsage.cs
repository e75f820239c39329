using System.Globalization;

namespace WasmKata.Linux.Processes;

/// <summary>Memory and CPU of a whole process from <c>/proc/PID</c>, for a guest host's stats.</summary>
internal static class ProcUsage
{
    // USER_HZ: the unit of /proc/PID/stat's times on every Linux architecture we run on.
    private const long NsPerTick = 10_000_000;

    /// <summary>VmRSS in bytes and utime+stime in ns; zeros for a process that is gone.</summary>
    public static (long RssBytes, long CpuNs) Read(int pid)
    {
        var cpu = ProcStat.TryRead(pid, out var stat) ? (stat.UserTicks + stat.SystemTicks) * NsPerTick : 0;
        long rss = 0;
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/status"))
            {
                if (!line.StartsWith("VmRSS:", StringComparison.Ordinal))
                    continue;
                var kib = line["VmRSS:".Length..].Trim().Split(' ')[0];
                rss = long.Parse(kib, CultureInfo.InvariantCulture) * 1024;
                break;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            // Gone between the two reads, or not readable: no figure.
        }
        return (rss, cpu);
    }
}
