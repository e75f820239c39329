using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using WasmKata.Linux.Cgroups;
using static WasmKata.Actors.TaskProtocol;
using V1 = WasmKata.Core.Protos.Cgroups.V1;
using V2 = WasmKata.Core.Protos.Cgroups.V2;

namespace WasmKata.Shim.Service;

/// <summary>
/// A container's figures in the cgroup <c>Metrics</c> shape of the host's cgroup version, as runc's shim answers:
/// v1 on legacy and hybrid hosts, v2 on unified ones (containerd's cgroups task monitor decodes only the host's shape;
/// ctr, dockerd and CRI take either). The container's own figures come from the engine: memory is its init guest's
/// linear memory against the container's limit, CPU the guest thread's CPU time. The sandbox's host cgroup (the whole
/// shim), when there is one, fills the hierarchical and total figures and the pids.
/// </summary>
/// <remarks>
/// Every nested message a reader dereferences without a nil check is always set: dockerd reads
/// <c>CPU.Throttling.Periods</c> (a nil there panics the whole daemon), containerd's task monitor reads
/// <c>Memory.Swap</c>, <c>Memory.Kernel</c> and <c>Memory.KernelTCP</c>. Figures a wasm guest has no counterpart for
/// (throttling, kernel memory, swap beyond its memory) are zero, with no limit.
/// </remarks>
internal static class StatsMetrics
{
    // What cgroup v1 reports as "no limit" (LONG_MAX rounded down to a page), so tools print what they print for runc.
    public const ulong UnlimitedV1 = 9223372036854771712;

    // What containerd's cgroup v2 reader makes of "max".
    public const ulong UnlimitedV2 = ulong.MaxValue;

    /// <summary>The metrics in the shape for a host whose cgroup mode is <paramref name="hostMode"/> (null: no cgroups, v1).</summary>
    public static Any Pack(StatsView container, SandboxStatsView sandbox, CgroupVersion? hostMode) =>
        hostMode == CgroupVersion.V2 ? Pack(FromV2(container, sandbox)) : Pack(From(container, sandbox));

    /// <summary>The v1 metrics of <paramref name="container"/> in a sandbox with <paramref name="sandbox"/>'s cgroup figures.</summary>
    public static V1.Metrics From(StatsView container, SandboxStatsView sandbox)
    {
        var memory = (ulong)Math.Max(0, container.MemoryBytes);
        var limit = container.MemoryLimitBytes is { } l ? (ulong)l : UnlimitedV1;
        return new V1.Metrics
        {
            Cpu = new V1.CPUStat
            {
                Usage = new V1.CPUUsage { Total = container.CpuNanoseconds, User = container.CpuNanoseconds },
                Throttling = new V1.Throttle(),
            },
            Memory = new V1.MemoryStat
            {
                Usage = new V1.MemoryEntry { Usage = memory, Max = memory, Limit = limit },
                // memsw counts memory plus swap; a guest's linear memory is never swapped apart from it.
                Swap = new V1.MemoryEntry { Usage = memory, Max = memory, Limit = UnlimitedV1 },
                Kernel = new V1.MemoryEntry { Limit = UnlimitedV1 },
                KernelTcp = new V1.MemoryEntry { Limit = UnlimitedV1 },
                Rss = memory,
                HierarchicalMemoryLimit = sandbox.MemoryLimitBytes is { } sl ? (ulong)sl : UnlimitedV1,
                HierarchicalSwapLimit = UnlimitedV1,
                TotalRss = sandbox.MemoryUsageBytes is { } su ? (ulong)su : memory,
            },
            Pids = new V1.PidsStat { Current = sandbox.Pids is { } p ? (ulong)p : 1 },
        };
    }

    /// <summary>The same figures in the v2 shape (CPU in microseconds, "max" as <see cref="UnlimitedV2"/>).</summary>
    public static V2.Metrics FromV2(StatsView container, SandboxStatsView sandbox)
    {
        var memory = (ulong)Math.Max(0, container.MemoryBytes);
        var cpuUsec = container.CpuNanoseconds / 1000;
        return new V2.Metrics
        {
            Cpu = new V2.CPUStat { UsageUsec = cpuUsec, UserUsec = cpuUsec },
            Memory = new V2.MemoryStat
            {
                Usage = memory,
                MaxUsage = memory,
                UsageLimit = container.MemoryLimitBytes is { } l ? (ulong)l : UnlimitedV2,
                SwapLimit = UnlimitedV2,
                Anon = memory,
                ActiveAnon = memory,
            },
            MemoryEvents = new V2.MemoryEvents(),
            Pids = new V2.PidsStat { Current = sandbox.Pids is { } p ? (ulong)p : 1 },
        };
    }

    private static Any Pack(IMessage metrics) => new() { TypeUrl = metrics.Descriptor.FullName, Value = metrics.ToByteString() };
}
