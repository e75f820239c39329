using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using WasmKata.Core.Protos.Cri;
using WasmKata.Shim.Service;
using Xunit;

namespace WasmKata.Specs.Shim;

/// <summary>CreateSandbox's options (CRI's PodSandboxConfig) decide which namespaces a sandbox's guests share.</summary>
public sealed class SandboxOptionsSpec
{
    private static Any Options(NamespaceMode network, NamespaceMode ipc, string hostname = "web-1") => new()
    {
        TypeUrl = "runtime.v1.PodSandboxConfig",
        Value = new PodSandboxConfig
        {
            Hostname = hostname,
            Linux = new LinuxPodSandboxConfig
            {
                SecurityContext = new LinuxSandboxSecurityContext { NamespaceOptions = new NamespaceOption { Network = network, Ipc = ipc } },
            },
        }.ToByteString(),
    };

    [Fact]
    public void A_pod_network_must_join_CRIs_netns_and_get_its_own_uts_and_ipc()
    {
        var (namespaces, hostname) = SandboxOptions.Read(Options(NamespaceMode.Pod, NamespaceMode.Pod), "/var/run/netns/cni-1");

        Assert.Equal(["network=/var/run/netns/cni-1", "uts=", "ipc="], namespaces.Select(n => $"{n.Type}={n.Path}"));
        Assert.Equal("web-1", hostname);
    }

    [Fact]
    public void A_node_network_and_node_ipc_must_keep_the_hosts_namespaces_and_hostname()
    {
        var (namespaces, hostname) = SandboxOptions.Read(Options(NamespaceMode.Node, NamespaceMode.Node), "");

        Assert.Empty(namespaces);
        Assert.Equal("", hostname);
    }

    [Fact]
    public void Without_options_only_the_netns_path_must_count()
    {
        var (namespaces, hostname) = SandboxOptions.Read(null, "/run/netns/x");

        Assert.Equal(["network=/run/netns/x", "uts=", "ipc="], namespaces.Select(n => $"{n.Type}={n.Path}"));
        Assert.Equal("", hostname);
    }

    [Fact]
    public void Options_of_another_type_or_not_parsable_must_be_refused_with_the_reason()
    {
        var other = Assert.Throws<ArgumentException>(() => SandboxOptions.Read(new Any { TypeUrl = "runtime.v1.Other", Value = ByteString.Empty }, ""));
        var broken = Assert.Throws<ArgumentException>(() =>
            SandboxOptions.Read(new Any { TypeUrl = "type.googleapis.com/runtime.v1.PodSandboxConfig", Value = ByteString.CopyFrom(0xff, 0xff) }, ""));
        var contradicting = Assert.Throws<ArgumentException>(() => SandboxOptions.Read(Options(NamespaceMode.Node, NamespaceMode.Pod), "/run/netns/x"));

        Assert.Contains("runtime.v1.Other", other.Message);
        Assert.Contains("not a valid runtime.v1.PodSandboxConfig", broken.Message);
        Assert.Contains("node's network", contradicting.Message);
    }
}
