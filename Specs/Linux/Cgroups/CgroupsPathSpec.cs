using WasmKata.Linux.Cgroups;
using Xunit;

namespace WasmKata.Specs.Linux.Cgroups;

public sealed class CgroupsPathSpec
{
    [Fact]
    public void A_slice_prefix_name_triple_must_be_a_systemd_scope()
    {
        var path = Assert.IsType<SystemdCgroupsPath>(CgroupsPath.Parse("kubepods-besteffort.slice:cri-containerd:abc123"));
        Assert.Equal("kubepods-besteffort.slice", path.SliceUnit);
        Assert.Equal("cri-containerd-abc123.scope", path.UnitName);
        Assert.Equal("kubepods-besteffort.slice:cri-containerd:abc123", path.ToString());
    }

    [Fact]
    public void An_empty_slice_must_default_to_system_slice_and_an_empty_prefix_must_be_left_out()
    {
        var path = Assert.IsType<SystemdCgroupsPath>(CgroupsPath.Parse("::sandbox"));
        Assert.Equal("system.slice", path.SliceUnit);
        Assert.Equal("sandbox.scope", path.UnitName);
    }

    [Theory]
    [InlineData("/k8s.io/abc", true)]
    [InlineData("/", true)]
    [InlineData("wasmkata/abc", false)]
    [InlineData("/odd:but:absolute", true)]
    public void Anything_else_must_be_a_cgroupfs_path(string value, bool absolute)
    {
        var path = Assert.IsType<FsCgroupsPath>(CgroupsPath.Parse(value));
        Assert.Equal(value, path.Path);
        Assert.Equal(absolute, path.IsAbsolute);
    }

    [Theory]
    [InlineData("")]
    [InlineData("a:b")]
    [InlineData("a:b:c:d")]
    [InlineData("system.slice:prefix:")]
    [InlineData("system.slice:prefix:child.slice")]
    [InlineData("/a/../b")]
    [InlineData("..")]
    public void Malformed_paths_must_be_refused(string value)
    {
        Assert.Throws<FormatException>(() => CgroupsPath.Parse(value));
    }
}
