using WasmKata.Core.Hooks;
using Xunit;

namespace WasmKata.Specs.Core.Hooks;

public sealed class OciStateSpec
{
    [Fact]
    public void State_must_serialize_exactly_as_the_runtime_spec_shows()
    {
        var state = new OciState
        {
            Id = "oci-container1",
            Status = OciStatus.Running,
            Pid = 4422,
            Bundle = "/containers/redis",
            Annotations = new Dictionary<string, string> { ["myKey"] = "myValue" },
        };

        Assert.Equal(
            """{"ociVersion":"1.2.1","id":"oci-container1","status":"running","pid":4422,"bundle":"/containers/redis","annotations":{"myKey":"myValue"}}""",
            state.ToJson());
    }

    [Fact]
    public void Pid_0_and_absent_annotations_must_be_left_out()
    {
        var state = new OciState { Id = "c", Status = OciStatus.Stopped, Bundle = "/b" };

        Assert.Equal("""{"ociVersion":"1.2.1","id":"c","status":"stopped","bundle":"/b"}""", state.ToJson());
    }

    [Theory]
    [InlineData(OciStatus.Creating, "creating")]
    [InlineData(OciStatus.Created, "created")]
    [InlineData(OciStatus.Running, "running")]
    [InlineData(OciStatus.Stopped, "stopped")]
    public void Status_must_use_the_spec_names_both_ways(OciStatus status, string name)
    {
        var state = new OciState { Id = "c", Status = status, Pid = 1, Bundle = "/b" };

        Assert.Contains($"\"status\":\"{name}\"", state.ToJson(), StringComparison.Ordinal);
        Assert.Equal(state, OciState.Parse(state.ToJson()));
    }
}
