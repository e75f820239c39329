using WasmKata.Linux.Cgroups;
using WasmKata.Shim.Service;
using Xunit;
using static WasmKata.Actors.TaskProtocol;
using V1 = WasmKata.Core.Protos.Cgroups.V1;
using V2 = WasmKata.Core.Protos.Cgroups.V2;

namespace WasmKata.Specs.Shim;

/// <summary>
/// The wire side of Stats and Pids: the Metrics shape every reader (ctr, dockerd, CRI, containerd's cgroups task
/// monitor) can dereference, in the host's cgroup version, and the pids `docker top` can find with ps.
/// </summary>
public sealed class StatsWireSpec
{
    private static readonly StatsView Limited = new(4 << 20, 8 << 20, 123_456);
    private static readonly StatsView Bare = new(65536, null, 0);
    private static readonly SandboxStatsView CgroupFigures = new(200 << 20, 300 << 20, 999, 25);
    private static readonly SandboxStatsView NoCgroup = new(null, null, null, null);

    public static TheoryData<CgroupVersion?> V1Hosts => [CgroupVersion.V1, null];

    [Theory]
    [MemberData(nameof(V1Hosts))]
    public void A_v1_or_cgroupless_host_must_get_v1_metrics_with_every_message_a_reader_dereferences(CgroupVersion? mode)
    {
        foreach (var (container, sandbox) in new[] { (Limited, CgroupFigures), (Bare, NoCgroup) })
        {
            var any = StatsMetrics.Pack(container, sandbox, mode);
            Assert.Equal("io.containerd.cgroups.v1.Metrics", any.TypeUrl);
            // Decoded from the bytes, as dockerd does: an empty message must still arrive as present, not nil.
            var metrics = V1.Metrics.Parser.ParseFrom(any.Value);
            Assert.NotNull(metrics.Cpu?.Usage);
            Assert.NotNull(metrics.Cpu.Throttling); // dockerd 26/28: stats.CPU.Throttling.Periods, a panic when nil
            Assert.NotNull(metrics.Memory?.Usage);
            Assert.NotNull(metrics.Memory.Swap); // containerd's task monitor: Memory.Swap/Kernel/KernelTCP
            Assert.NotNull(metrics.Memory.Kernel);
            Assert.NotNull(metrics.Memory.KernelTcp);
            Assert.NotNull(metrics.Pids);
        }
    }

    [Fact]
    public void V1_metrics_must_carry_the_container_figures_and_the_sandbox_cgroup_ones()
    {
        var metrics = StatsMetrics.From(Limited, CgroupFigures);
        Assert.Equal((4UL << 20, 8UL << 20), (metrics.Memory.Usage.Usage, metrics.Memory.Usage.Limit));
        Assert.Equal((200UL << 20, 300UL << 20), (metrics.Memory.TotalRss, metrics.Memory.HierarchicalMemoryLimit));
        Assert.Equal(123_456UL, metrics.Cpu.Usage.Total);
        Assert.Equal(25UL, metrics.Pids.Current);
        Assert.Equal(0UL, metrics.Cpu.Throttling.Periods);

        var bare = StatsMetrics.From(Bare, NoCgroup);
        Assert.Equal(StatsMetrics.UnlimitedV1, bare.Memory.Usage.Limit);
        Assert.Equal(StatsMetrics.UnlimitedV1, bare.Memory.HierarchicalMemoryLimit);
        Assert.Equal(65536UL, bare.Memory.TotalRss);
        Assert.Equal(1UL, bare.Pids.Current);
    }

    [Fact]
    public void A_unified_host_must_get_v2_metrics_in_its_units()
    {
        var any = StatsMetrics.Pack(Limited, CgroupFigures, CgroupVersion.V2);
        Assert.Equal("io.containerd.cgroups.v2.Metrics", any.TypeUrl);
        var metrics = V2.Metrics.Parser.ParseFrom(any.Value);
        Assert.NotNull(metrics.MemoryEvents);
        Assert.Equal((123UL, 123UL, 0UL), (metrics.Cpu.UsageUsec, metrics.Cpu.UserUsec, metrics.Cpu.SystemUsec));
        Assert.Equal((4UL << 20, 8UL << 20), (metrics.Memory.Usage, metrics.Memory.UsageLimit));
        Assert.Equal(25UL, metrics.Pids.Current);

        var bare = V2.Metrics.Parser.ParseFrom(StatsMetrics.Pack(Bare, NoCgroup, CgroupVersion.V2).Value);
        Assert.Equal(StatsMetrics.UnlimitedV2, bare.Memory.UsageLimit);
        Assert.Equal(1UL, bare.Pids.Current);
    }

    [Fact]
    public void Pids_must_name_the_daemon_once_per_guest_process_with_each_exec_id()
    {
        var list = new PidList([new PidEntry(1001, ""), new PidEntry(1002, "e1")]);

        var response = ProcessList.From(list, 42);

        Assert.Equal([42u, 42u], response.Processes.Select(p => p.Pid));
        Assert.Null(response.Processes[0].Info);
        var details = WasmKata.Core.Protos.Runc.ProcessDetails.Parser.ParseFrom(response.Processes[1].Info.Value);
        Assert.Equal("containerd.runc.v1.ProcessDetails", response.Processes[1].Info.TypeUrl);
        Assert.Equal("e1", details.ExecId);
        Assert.Empty(ProcessList.From(new PidList([]), 42).Processes);
    }

    [Fact]
    public void Pids_must_name_each_guest_host_when_guests_are_processes_of_their_own()
    {
        var list = new PidList([new PidEntry(1001, ""), new PidEntry(1002, "e1"), new PidEntry(0, "e2")], OwnProcesses: true);

        var response = ProcessList.From(list, 42);

        Assert.Equal([1001u, 1002u, 42u], response.Processes.Select(p => p.Pid));
    }
}
