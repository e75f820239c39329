using System.Globalization;

namespace WasmKata.Linux.Idmap;

/// <summary>
/// A sandbox's block of host uids and gids (the same numbers for both): id n on disk, and in the sandbox's user
/// namespace, is host id <see cref="HostBase"/> + n for n below <see cref="Count"/>.
/// </summary>
public readonly record struct IdRange(int Slot, uint HostBase, uint Count)
{
    /// <summary>
    /// Ids per sandbox: all of 0-65535, the ids images use (root, daemons such as nginx's 101, distroless' 65532), so
    /// every file of an image keeps an owner through the idmapped rootfs. The kernel refuses any write through an
    /// idmapped mount to an inode whose owner or group has no mapping, whatever its mode.
    /// </summary>
    public const uint SandboxSize = 65536;

    /// <summary>The host id that on-disk id 0 (the container's root) appears as: the guest host's uid and gid.</summary>
    public uint RootHostId => HostBase;

    /// <summary>The last host id of the range.</summary>
    public uint HostLast => HostBase + Count - 1;

    /// <summary>Whether host id <paramref name="hostId"/> lies in the range.</summary>
    public bool Contains(uint hostId) => hostId >= HostBase && hostId - HostBase < Count;

    /// <summary>The line for <c>/proc/PID/uid_map</c> and <c>gid_map</c>: "0 BASE COUNT".</summary>
    internal string MapLine => string.Create(CultureInfo.InvariantCulture, $"0 {HostBase} {Count}\n");

    /// <summary>"slot 3: host ids 2296608-2362143".</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"slot {Slot}: host ids {HostBase}-{HostLast}");
}
