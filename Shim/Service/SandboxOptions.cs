using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using WasmKata.Core.Protos.Cri;
using WasmKata.Linux.Namespaces;

namespace WasmKata.Shim.Service;

/// <summary>
/// What CreateSandbox's request says about the namespaces a sandbox's guests share. CRI sends its
/// <c>runtime.v1.PodSandboxConfig</c> as the options: a pod on the node's network (<c>NODE</c>) keeps the host's network
/// and UTS namespaces, as runc's pause container would, one with the node's IPC keeps that; otherwise the guests join
/// the network namespace CRI made (<c>netns_path</c>) and get a UTS namespace named after the pod's hostname and an
/// IPC namespace of their own. Without options (another client) only <c>netns_path</c> counts.
/// </summary>
internal static class SandboxOptions
{
    /// <summary>The namespaces to join or create and the hostname, or an InvalidArgument reason.</summary>
    public static (IReadOnlyList<NamespaceRequest> Namespaces, string Hostname) Read(Any? options, string netnsPath)
    {
        var config = Parse(options);
        var modes = config?.Linux?.SecurityContext?.NamespaceOptions;
        var hostNetwork = modes?.Network == NamespaceMode.Node;
        if (hostNetwork && netnsPath.Length > 0)
            throw new ArgumentException($"a pod on the node's network was given the network namespace {netnsPath}");
        var namespaces = new List<NamespaceRequest>();
        if (!hostNetwork)
        {
            namespaces.Add(new NamespaceRequest("network", netnsPath));
            namespaces.Add(new NamespaceRequest("uts", ""));
        }
        if (modes?.Ipc != NamespaceMode.Node)
            namespaces.Add(new NamespaceRequest("ipc", ""));
        return (namespaces, hostNetwork ? "" : config?.Hostname ?? "");
    }

    private static PodSandboxConfig? Parse(Any? options)
    {
        if (options is null || options.TypeUrl.Length == 0)
            return null;
        // containerd's typeurl names a message bare ("runtime.v1.PodSandboxConfig"); protobuf's Any adds a host part.
        var name = options.TypeUrl[(options.TypeUrl.LastIndexOf('/') + 1)..];
        if (name != PodSandboxConfig.Descriptor.FullName)
            throw new ArgumentException($"options of type {options.TypeUrl} are not understood (a {PodSandboxConfig.Descriptor.FullName} is)");
        try
        {
            return PodSandboxConfig.Parser.ParseFrom(options.Value);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new ArgumentException($"options are not a valid {PodSandboxConfig.Descriptor.FullName}: {e.Message}");
        }
    }
}
