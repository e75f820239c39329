using System.Security.Cryptography;
using System.Text;
using WasmKata.Core.Oci;

namespace WasmKata.Core.Bootstrap;

/// <summary>Where a shim listens: one socket per group of containers, named as runc names its own.</summary>
internal static class ShimAddress
{
    /// <summary>Annotations that put containers into one shim, first match wins.</summary>
    private static readonly string[] GroupAnnotations = ["io.containerd.wasmkata.v2.group", "io.kubernetes.cri.sandbox-id"];

    /// <summary>The directory shared with every other shim on the host.</summary>
    public const string SocketDirectory = "/run/containerd/s";

    /// <summary>The group of container <paramref name="id"/>: its sandbox, or itself.</summary>
    public static string GroupOf(string id, OciSpec? spec)
    {
        foreach (var key in GroupAnnotations)
        {
            if (spec?.Annotations?.TryGetValue(key, out var group) == true && group.Length > 0)
                return group;
        }
        return id;
    }

    /// <summary>The socket path: sha256 of containerd's address, the namespace and the group.</summary>
    public static string SocketPath(string containerdAddress, string ns, string group)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes($"{containerdAddress}/{ns}/{group}"));
        return Path.Combine(SocketDirectory, Convert.ToHexStringLower(hash));
    }

    /// <summary>The address containerd dials.</summary>
    public static string ToUri(string socketPath) => "unix://" + socketPath;

    /// <summary>The socket path of an address written by <see cref="ToUri"/>.</summary>
    public static string FromUri(string address) =>
        address.StartsWith("unix://", StringComparison.Ordinal) ? address["unix://".Length..] : address;
}
