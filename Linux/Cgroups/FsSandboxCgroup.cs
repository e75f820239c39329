using System.Globalization;

namespace WasmKata.Linux.Cgroups;

/// <summary>A sandbox cgroup written through cgroupfs: one directory per hierarchy (v1) or one (v2).</summary>
internal sealed class FsSandboxCgroup : ISandboxCgroup
{
    private readonly CgroupVersion _version;
    private readonly IReadOnlyList<FsNode> _nodes;

    public FsSandboxCgroup(FsCgroupsPath path, CgroupVersion version, IReadOnlyList<FsNode> nodes)
    {
        Path = path;
        _version = version;
        _nodes = nodes;
    }

    public CgroupsPath Path { get; }

    public Task UpdateAsync(CgroupLimits limits, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(limits);
        Apply(limits);
        return Task.CompletedTask;
    }

    public Task<CgroupStats> ReadStatsAsync(CancellationToken cancellationToken = default)
    {
        var memory = Node("memory");
        var cpu = _version == CgroupVersion.V2 ? Node("cpu") : Node("cpuacct");
        var pids = Node("pids");
        return Task.FromResult(_version == CgroupVersion.V2
            ? new CgroupStats(
                memory is null ? null : CgroupFiles.TryReadNumber(memory.Directory, "memory.current"),
                memory is null ? null : CgroupFiles.TryRead(memory.Directory, "memory.max") is { } max ? CgroupValues.ParseLimit(max) : null,
                cpu is null ? null : CgroupFiles.TryRead(cpu.Directory, "cpu.stat") is { } stat ? CgroupValues.CpuStatUsageNs(stat) : null,
                pids is null ? null : CgroupFiles.TryReadNumber(pids.Directory, "pids.current"))
            : new CgroupStats(
                memory is null ? null : CgroupFiles.TryReadNumber(memory.Directory, "memory.usage_in_bytes"),
                memory is null ? null : CgroupFiles.TryRead(memory.Directory, "memory.limit_in_bytes") is { } limit ? CgroupValues.ParseLimit(limit) : null,
                cpu is null ? null : CgroupFiles.TryReadNumber(cpu.Directory, "cpuacct.usage"),
                pids is null ? null : CgroupFiles.TryReadNumber(pids.Directory, "pids.current")));
    }

    public async Task RemoveAsync(CancellationToken cancellationToken = default)
    {
        foreach (var node in _nodes)
        {
            // Back where the process came from when that still exists (and is not this cgroup), else the parent.
            var target = node.Origin is { } origin && origin != node.Directory && Directory.Exists(origin)
                && !origin.StartsWith(node.Directory + "/", StringComparison.Ordinal)
                ? origin
                : System.IO.Path.GetDirectoryName(node.Directory)!;
            await CgroupFiles.RemoveTreeAsync(node.Directory, target, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Writes every limit that is set; throws <see cref="CgroupException"/> naming the first that fails.</summary>
    public void Apply(CgroupLimits limits)
    {
        if (limits.MemoryMaxBytes is { } memory)
        {
            var node = Require("memory");
            if (_version == CgroupVersion.V2)
                CgroupFiles.Write(node.Directory, "memory.max", CgroupValues.MaxOrNumber(memory));
            else
                CgroupFiles.Write(node.Directory, "memory.limit_in_bytes", Number(memory < 0 ? -1 : memory));
        }

        if (limits.CpuQuotaUs is not null || limits.CpuPeriodUs is not null)
        {
            var node = Require("cpu");
            if (_version == CgroupVersion.V2)
            {
                var quota = limits.CpuQuotaUs ?? CurrentV2Quota(node.Directory);
                CgroupFiles.Write(node.Directory, "cpu.max", CgroupValues.CpuMax(quota, limits.CpuPeriodUs));
            }
            else
            {
                // Period first: the kernel checks the quota against it.
                if (limits.CpuPeriodUs is { } period)
                    CgroupFiles.Write(node.Directory, "cpu.cfs_period_us", period.ToString(CultureInfo.InvariantCulture));

                if (limits.CpuQuotaUs is { } quota)
                    CgroupFiles.Write(node.Directory, "cpu.cfs_quota_us", Number(quota < 0 ? -1 : quota));
            }
        }

        if (limits.CpuShares is { } shares)
        {
            var node = Require("cpu");
            if (_version == CgroupVersion.V2)
                CgroupFiles.Write(node.Directory, "cpu.weight", CgroupValues.SharesToWeight(shares).ToString(CultureInfo.InvariantCulture));
            else
                CgroupFiles.Write(node.Directory, "cpu.shares", shares.ToString(CultureInfo.InvariantCulture));
        }

        if (limits.PidsMax is { } pids)
            CgroupFiles.Write(Require("pids").Directory, "pids.max", CgroupValues.MaxOrNumber(pids));
    }

    private static long CurrentV2Quota(string directory)
    {
        var current = CgroupFiles.TryRead(directory, "cpu.max")?.Split(' ')[0].Trim();
        return current is null or "max" ? -1 : long.Parse(current, CultureInfo.InvariantCulture);
    }

    private static string Number(long value) => value.ToString(CultureInfo.InvariantCulture);

    private FsNode? Node(string controller) => _nodes.FirstOrDefault(n => n.Has(controller));

    private FsNode Require(string controller) => Node(controller)
        ?? throw new CgroupException($"cannot limit {controller} for cgroup {Path}: the {controller} controller is not mounted");
}
