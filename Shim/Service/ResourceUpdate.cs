using Google.Protobuf.WellKnownTypes;
using WasmKata.Core.Oci;
using WasmKata.Shim.Ttrpc;

namespace WasmKata.Shim.Service;

/// <summary>Reads the <c>resources</c> of an Update: JSON of the OCI runtime spec's <c>LinuxResources</c> in an Any.</summary>
internal static class ResourceUpdate
{
    /// <summary>The type URL containerd (typeurl) gives runtime-spec <c>LinuxResources</c>.</summary>
    public const string LinuxResourcesType = "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources";

    /// <summary>The resources, or InvalidArgument naming what is wrong.</summary>
    public static OciResources Parse(Any? resources)
    {
        if (resources is null || resources.Value.IsEmpty)
            throw new TtrpcException(StatusCode.InvalidArgument, "update: resources are missing");
        // Accept the name with or without a type.googleapis.com/-style prefix; refuse anything that is not LinuxResources.
        if (resources.TypeUrl != LinuxResourcesType && !resources.TypeUrl.EndsWith("/" + LinuxResourcesType, StringComparison.Ordinal))
            throw new TtrpcException(StatusCode.InvalidArgument, $"update: resources of type \"{resources.TypeUrl}\" are not {LinuxResourcesType}");
        try
        {
            return OciJson.ParseResources(resources.Value.ToStringUtf8());
        }
        catch (OciSpecException e)
        {
            throw new TtrpcException(StatusCode.InvalidArgument, "update: " + e.Message);
        }
    }
}
