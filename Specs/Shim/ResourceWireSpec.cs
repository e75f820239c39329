using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using WasmKata.Shim.Service;
using WasmKata.Shim.Ttrpc;
using Xunit;

namespace WasmKata.Specs.Shim;

/// <summary>The wire side of Update (LinuxResources JSON in an Any); Stats is <see cref="StatsWireSpec"/>.</summary>
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
}
