using System.Globalization;

namespace WasmKata.Linux.Cgroups;

/// <summary>Conversions between OCI resource values and what cgroup v1, v2 and systemd take; pure functions.</summary>
public static class CgroupValues
{
    /// <summary>The cfs period the kernel uses when none is set, in microseconds.</summary>
    public const ulong DefaultCpuPeriodUs = 100_000;

    /// <summary>systemd's "infinity" for uint64 properties.</summary>
    public const ulong SystemdInfinity = ulong.MaxValue;

    /// <summary>cgroup v1 reports an unlimited memory limit as the largest page-aligned long; anything this large is unlimited.</summary>
    internal const long V1UnlimitedThreshold = 1L << 62;

    /// <summary>
    /// cgroup v1 cpu.shares (2-262144, default 1024) to a cgroup v2 / systemd weight (1-10000, default 100), with the
    /// mapping runc uses since 1.3: the exponent of the weight is quadratic in log2(shares), so 2, 1024 and 262144 map to
    /// 1, 100 and 10000. 0 stays 0 (unset).
    /// </summary>
    public static ulong SharesToWeight(ulong shares)
    {
        if (shares == 0)
            return 0;

        if (shares <= 2)
            return 1;

        if (shares >= 262_144)
            return 10_000;

        var l = Math.Log2(shares);
        var exponent = ((l * l) + (125 * l)) / 612.0 - (7.0 / 34.0);

        // Rounded to 9 digits first so float noise cannot push an exact result (1024 -> 100) up by one.
        return (ulong)Math.Ceiling(Math.Round(Math.Pow(10, exponent), 9));
    }

    /// <summary>The v2 <c>cpu.max</c> line: "QUOTA PERIOD", "max PERIOD" for -1, or only the quota when no period is given.</summary>
    public static string CpuMax(long quotaUs, ulong? periodUs)
    {
        var quota = quotaUs < 0 ? "max" : quotaUs.ToString(CultureInfo.InvariantCulture);
        return periodUs is { } period ? $"{quota} {period.ToString(CultureInfo.InvariantCulture)}" : quota;
    }

    /// <summary>
    /// systemd's CPUQuotaPerSecUSec for a cfs quota and period: CPU time per second of wall time, rounded up to whole
    /// 10 ms as runc does (systemd keeps it as a percentage); -1 is infinity.
    /// </summary>
    public static ulong SystemdQuotaPerSecUs(long quotaUs, ulong? periodUs)
    {
        if (quotaUs < 0)
            return SystemdInfinity;

        var period = periodUs is { } p && p > 0 ? p : DefaultCpuPeriodUs;
        var perSec = (ulong)quotaUs * 1_000_000 / period;
        return (perSec + 9_999) / 10_000 * 10_000;
    }

    /// <summary>A limit for systemd: the value, or infinity for -1.</summary>
    public static ulong SystemdLimit(long value) => value < 0 ? SystemdInfinity : (ulong)value;

    /// <summary>A limit for a v1/v2 file taking "max": the number, or "max" for -1.</summary>
    public static string MaxOrNumber(long value) => value < 0 ? "max" : value.ToString(CultureInfo.InvariantCulture);

    /// <summary>Parses a limit file: null for "max" or a v1 value that means unlimited.</summary>
    public static long? ParseLimit(string text)
    {
        var value = text.Trim();
        if (value == "max")
            return null;

        var number = long.Parse(value, NumberStyles.Integer, CultureInfo.InvariantCulture);
        return number >= V1UnlimitedThreshold || number < 0 ? null : number;
    }

    /// <summary>The <c>usage_usec</c> line of a v2 <c>cpu.stat</c>, in ns.</summary>
    public static long? CpuStatUsageNs(string cpuStat)
    {
        foreach (var line in cpuStat.Split('\n'))
        {
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 2 && parts[0] == "usage_usec")
                return long.Parse(parts[1], CultureInfo.InvariantCulture) * 1000;
        }

        return null;
    }
}
