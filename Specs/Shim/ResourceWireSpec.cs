using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using WasmKata.Shim.Service;
using WasmKata.Shim.Ttrpc;
using Xunit;
using static WasmKata.Actors.TaskProtocol;

namespace WasmKata.Specs.Shim;

/// <summary>The wire side of Update (LinuxResources JSON in an Any) and Stats (cgroup v1 Metrics).</summary>
public sealed class ResourceWireSpec
{
    private static Any Resources(string json, string type = ResourceUpdate.LinuxResourcesType) => new() { TypeUrl = type, Value = ByteString.CopyFromUtf8(json) };

    [Fact]
    public void Linux_resources_json_must_be_read_as_containerd_sends_it()
    {
        var resources = ResourceUpdate.Parse(Resources("""{"memory":{"limit":8388608,"swap":0},"cpu":{"shares":512,"quota":20000,"period":100000,"cpus":"0"},"pids":{"limit":10}}"""));
        Assert.Equal(8388608, resources.Memory!.Limit);
        Assert.Equal((512UL, 20000L, 100000UL), (resources.Cpu!.Shares!.Value, resources.Cpu.Quota!.Value, resources.Cpu.Period!.Value));
        Assert.Equal(1L, ResourceUpdate.Parse(Resources("""{"memory":{"limit":1}}""", "type.googleapis.com/" + ResourceUpdate.LinuxResourcesType)).Memory!.Limit);
    }

    [Theory]
    [InlineData("{not json", ResourceUpdate.LinuxResourcesType)]
    [InlineData("""{"memory":{"limit":"big"}}""", ResourceUpdate.LinuxResourcesType)]
    [InlineData("{}", "containerd.runc.v1.Options")]
    [InlineData("", ResourceUpdate.LinuxResourcesType)]
    public void Bad_resources_must_be_invalid_argument(string json, string type)
    {
        var e = Assert.Throws<TtrpcException>(() => ResourceUpdate.Parse(Resources(json, type)));
        Assert.Equal(StatusCode.InvalidArgument, e.Code);
        Assert.Equal(StatusCode.InvalidArgument, Assert.Throws<TtrpcException>(() => ResourceUpdate.Parse(null)).Code);
    }

    [Fact]
    public void Metrics_must_carry_the_container_figures_and_the_sandbox_cgroup_ones()
    {
        var metrics = StatsMetrics.From(new StatsView(4 << 20, 8 << 20, 123), new SandboxStatsView(200 << 20, 300 << 20, 999, 25));
        Assert.Equal((4UL << 20, 8UL << 20), (metrics.Memory.Usage.Usage, metrics.Memory.Usage.Limit));
        Assert.Equal((200UL << 20, 300UL << 20), (metrics.Memory.TotalRss, metrics.Memory.HierarchicalMemoryLimit));
        Assert.Equal(123UL, metrics.Cpu.Usage.Total);
        Assert.Equal(25UL, metrics.Pids.Current);

        var bare = StatsMetrics.From(new StatsView(65536, null, 0), new SandboxStatsView(null, null, null, null));
        Assert.Equal(9223372036854771712UL, bare.Memory.Usage.Limit);
        Assert.NotNull(bare.Cpu.Usage);
        Assert.Equal(1UL, bare.Pids.Current);
    }
}
