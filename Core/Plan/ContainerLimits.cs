using WasmKata.Core.Oci;

namespace WasmKata.Core.Plan;

/// <summary>
/// The limits a container's guests run under, from <c>linux.resources</c> at create and changed by Update: memory (the
/// engine caps linear memory), CPU quota (epoch-deadline throttling) and CPU shares (the guest thread's nice value).
/// </summary>
/// <param name="MemoryLimitBytes">Most linear memory per guest; null is unlimited.</param>
/// <param name="Cpu">CPU quota per period; null is unlimited.</param>
/// <param name="CpuShares">cgroup v1 shares (1024 is the default weight); null leaves the thread's weight alone.</param>
public sealed record ContainerLimits(long? MemoryLimitBytes, GuestCpuLimit? Cpu, ulong? CpuShares)
{
    /// <summary>No limits.</summary>
    public static readonly ContainerLimits None = new(null, null, null);

    private const ulong MinShares = 2;
    private const ulong MaxShares = 262_144;

    /// <summary>The limits of a spec's <c>linux.resources</c>; what is absent, zero or -1 is unlimited. Throws
    /// <see cref="ArgumentException"/> for values no kernel would take.</summary>
    public static ContainerLimits FromSpec(OciResources? resources) => None.With(resources);

    /// <summary>
    /// These limits changed by an Update's <c>LinuxResources</c>, as runc reads it: an absent or zero figure keeps what is
    /// in force, -1 lifts the limit. Throws <see cref="ArgumentException"/> naming the bad figure.
    /// </summary>
    public ContainerLimits With(OciResources? update)
    {
        if (update is null)
            return this;
        var memory = MemoryLimitBytes;
        switch (update.Memory?.Limit)
        {
            case null or 0:
                break;
            case -1:
                memory = null;
                break;
            case < 0 and var bad:
                throw new ArgumentException($"memory.limit {bad} is not valid (a byte count, or -1 for unlimited)");
            case var limit:
                memory = limit;
                break;
        }

        var cpu = Cpu;
        var quota = update.Cpu?.Quota;
        var period = update.Cpu?.Period;
        if (period is > 0 and (< GuestCpuLimit.MinimumUs or > GuestCpuLimit.MaximumPeriodUs))
            throw new ArgumentException($"cpu.period {period} is not valid (1000 to 1000000 microseconds)");
        switch (quota)
        {
            case null or 0:
                if (period is > 0 && cpu is not null)
                    cpu = cpu with { PeriodUs = (long)period.Value };
                break;
            case -1:
                cpu = null;
                break;
            case < 0 and var bad:
                throw new ArgumentException($"cpu.quota {bad} is not valid (microseconds, or -1 for unlimited)");
            case < GuestCpuLimit.MinimumUs and var small:
                throw new ArgumentException($"cpu.quota {small} is too small (at least 1000 microseconds)");
            case { } q:
                cpu = new GuestCpuLimit(q, period is > 0 ? (long)period.Value : cpu?.PeriodUs ?? GuestCpuLimit.DefaultPeriodUs);
                break;
        }

        var shares = CpuShares;
        if (update.Cpu?.Shares is { } s and > 0)
        {
            if (s is < MinShares or > MaxShares)
                throw new ArgumentException($"cpu.shares {s} is not valid ({MinShares} to {MaxShares})");
            shares = s;
        }

        return new ContainerLimits(memory, cpu, shares);
    }
}
