using System.Security.Cryptography;
using System.Text;
using WasmKata.Core.Bootstrap;
using WasmKata.Core.Oci;
using Xunit;

namespace WasmKata.Specs.Core.Bootstrap;

public class ShimArgsSpec
{
    [Fact]
    public void Start_arguments_must_parse_as_containerd_sends_them()
    {
        var args = ShimArgs.Parse(["-namespace", "research", "-address", "/run/c.sock", "-publish-binary", "/usr/bin/containerd", "-id", "t1", "-debug", "start"]);
        Assert.Equal("research", args.Namespace);
        Assert.Equal("/run/c.sock", args.Address);
        Assert.Equal("/usr/bin/containerd", args.PublishBinary);
        Assert.Equal("t1", args.Id);
        Assert.True(args.Debug);
        Assert.Equal("start", args.Action);
    }

    [Fact]
    public void Unknown_flags_and_inline_values_must_not_break_parsing()
    {
        var args = ShimArgs.Parse(["-socket", "/x", "--id=t2", "-bundle", "/b", "-future-flag", "delete"]);
        Assert.Equal("t2", args.Id);
        Assert.Equal("/b", args.Bundle);
        Assert.Equal("delete", args.Action);
        Assert.True(ShimArgs.Parse(["-info"]).Info);
    }

    [Fact]
    public void Daemon_arguments_must_round_trip()
    {
        var args = new ShimArgs { Namespace = "ns", Address = "/a", PublishBinary = "/p", Id = "i", Debug = true };
        Assert.Equal(args with { Action = "serve" }, ShimArgs.Parse(args.ToArgs("serve")));
    }

    [Fact]
    public void Socket_path_must_be_the_sha256_of_address_namespace_and_group()
    {
        var expected = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes("/run/c.sock/ns/g1")));
        Assert.Equal("/run/containerd/s/" + expected, ShimAddress.SocketPath("/run/c.sock", "ns", "g1"));
        Assert.Equal("unix:///run/containerd/s/" + expected, ShimAddress.ToUri(ShimAddress.SocketPath("/run/c.sock", "ns", "g1")));
    }

    [Fact]
    public void Containers_of_one_pod_must_share_a_group()
    {
        var spec = new OciSpec { Annotations = new Dictionary<string, string> { ["io.kubernetes.cri.sandbox-id"] = "pod1" } };
        Assert.Equal("pod1", ShimAddress.GroupOf("c1", spec));
        Assert.Equal("c1", ShimAddress.GroupOf("c1", new OciSpec()));
        Assert.Equal("c1", ShimAddress.GroupOf("c1", null));
        var own = new OciSpec { Annotations = new Dictionary<string, string> { ["io.containerd.wasmkata.v2.group"] = "g", ["io.kubernetes.cri.sandbox-id"] = "pod1" } };
        Assert.Equal("g", ShimAddress.GroupOf("c1", own));
    }
}
