namespace WasmKata.Linux.Cgroups;

/// <summary>
/// Limits for a cgroup, each optional: null leaves it as it is (on create: the default, unlimited). -1 means unlimited
/// where the OCI runtime spec allows it (memory, quota, pids).
/// </summary>
public sealed record CgroupLimits
{
    /// <summary>Unlimited on every count.</summary>
    public static readonly CgroupLimits None = new();

    /// <summary>Most memory in bytes (v1 memory.limit_in_bytes, v2 memory.max, systemd MemoryMax); -1 unlimited.</summary>
    public long? MemoryMaxBytes { get; init; }

    /// <summary>CPU time in microseconds per <see cref="CpuPeriodUs"/> (cfs quota, v2 cpu.max, systemd CPUQuotaPerSecUSec); -1 unlimited.</summary>
    public long? CpuQuotaUs { get; init; }

    /// <summary>The cfs period in microseconds; the kernel's default is 100000.</summary>
    public ulong? CpuPeriodUs { get; init; }

    /// <summary>Relative CPU weight in cgroup v1 shares (2-262144, default 1024); converted to a v2/systemd weight where needed.</summary>
    public ulong? CpuShares { get; init; }

    /// <summary>Most tasks (processes and threads: guests are threads of the shim); -1 unlimited.</summary>
    public long? PidsMax { get; init; }

    /// <summary>Whether nothing is set.</summary>
    public bool IsEmpty => MemoryMaxBytes is null && CpuQuotaUs is null && CpuPeriodUs is null && CpuShares is null && PidsMax is null;
}

/// <summary>What a cgroup has used; null where the hierarchy does not account for it.</summary>
/// <param name="MemoryUsageBytes">Memory charged to the cgroup now.</param>
/// <param name="MemoryLimitBytes">The memory limit in force; null when unlimited.</param>
/// <param name="CpuUsageNs">CPU time of all its tasks since it was created.</param>
/// <param name="Pids">Tasks (threads) in it now.</param>
public sealed record CgroupStats(long? MemoryUsageBytes, long? MemoryLimitBytes, long? CpuUsageNs, long? Pids);
