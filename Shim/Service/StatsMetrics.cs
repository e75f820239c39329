using WasmKata.Core.Protos.Cgroups.V1;
using static WasmKata.Actors.TaskProtocol;

namespace WasmKata.Shim.Service;

/// <summary>
/// A container's figures in the cgroup v1 <c>Metrics</c> shape that containerd and <c>ctr task metrics</c> read. The
/// container's own figures come from the engine: memory is its init guest's linear memory against the container's
/// limit, CPU the guest thread's CPU time. The sandbox's host cgroup (the whole shim), when there is one, fills the
/// hierarchical and total figures and the pids.
/// </summary>
internal static class StatsMetrics
{
    // What cgroup v1 reports as "no limit" (LONG_MAX rounded down to a page), so tools print what they print for runc.
    private const ulong Unlimited = 9223372036854771712;

    /// <summary>The metrics of <paramref name="container"/> in a sandbox with <paramref name="sandbox"/>'s cgroup figures.</summary>
    public static Metrics From(StatsView container, SandboxStatsView sandbox)
    {
        var memory = (ulong)Math.Max(0, container.MemoryBytes);
        var limit = container.MemoryLimitBytes is { } l ? (ulong)l : Unlimited;
        var metrics = new Metrics
        {
            // ctr dereferences cpu.usage and memory.usage without nil checks: both are always set.
            Cpu = new CPUStat { Usage = new CPUUsage { Total = container.CpuNanoseconds, User = container.CpuNanoseconds } },
            Memory = new MemoryStat
            {
                Usage = new MemoryEntry { Usage = memory, Max = memory, Limit = limit },
                Rss = memory,
                HierarchicalMemoryLimit = sandbox.MemoryLimitBytes is { } sl ? (ulong)sl : Unlimited,
                TotalRss = sandbox.MemoryUsageBytes is { } su ? (ulong)su : memory,
            },
            Pids = new PidsStat { Current = sandbox.Pids is { } p ? (ulong)p : 1 },
        };
        return metrics;
    }
}
