namespace WasmKata.Core.Plan;

/// <summary>A guest's CPU quota: at most <paramref name="QuotaUs"/> of CPU time in every <paramref name="PeriodUs"/> of wall time.</summary>
/// <param name="QuotaUs">CPU time per period, in microseconds; a quota of a whole period or more never throttles (a guest is one thread).</param>
/// <param name="PeriodUs">The accounting period in microseconds (1 ms to 1 s, as the kernel's cfs period).</param>
public sealed record GuestCpuLimit(long QuotaUs, long PeriodUs)
{
    /// <summary>The kernel's default cfs period.</summary>
    public const long DefaultPeriodUs = 100_000;

    /// <summary>The smallest quota and period the kernel accepts.</summary>
    public const long MinimumUs = 1_000;

    /// <summary>The largest period the kernel accepts.</summary>
    public const long MaximumPeriodUs = 1_000_000;

    /// <summary>
    /// The limit for OCI <c>linux.resources.cpu</c> quota and period; null (no limit) when the quota is absent, zero or
    /// negative (-1 is "unlimited"). A missing or zero period is the default 100 ms.
    /// </summary>
    public static GuestCpuLimit? FromOci(long? quotaUs, ulong? periodUs)
    {
        if (quotaUs is not { } quota || quota <= 0)
            return null;
        var period = periodUs is { } p && p > 0 ? (long)Math.Min(p, (ulong)MaximumPeriodUs) : DefaultPeriodUs;
        return new GuestCpuLimit(Math.Max(quota, MinimumUs), Math.Max(period, MinimumUs));
    }

    /// <summary>Whether this limit can throttle a single thread at all.</summary>
    public bool Throttles => QuotaUs < PeriodUs;

    internal void Validate()
    {
        if (QuotaUs < MinimumUs)
            throw new ArgumentOutOfRangeException(nameof(QuotaUs), QuotaUs, "the quota must be at least 1000 us");
        if (PeriodUs is < MinimumUs or > MaximumPeriodUs)
            throw new ArgumentOutOfRangeException(nameof(PeriodUs), PeriodUs, "the period must be 1000 us to 1 s");
    }
}
