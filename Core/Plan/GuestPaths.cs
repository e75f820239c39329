namespace WasmKata.Core.Plan;

/// <summary>Where a guest path lies on the host, through the container's mounts as a kernel would see it.</summary>
internal static class GuestPaths
{
    /// <summary>
    /// The host path of <paramref name="guestPath"/>: inside the mount whose destination is its longest parent (or
    /// itself), else inside <paramref name="rootfs"/>. Either way it is resolved as a chroot would, so "..", and
    /// symlinks, cannot lead out of the directory it lies in.
    /// </summary>
    public static string Resolve(string rootfs, IReadOnlyList<Preopen> mounts, string guestPath)
    {
        var path = RootfsPaths.Normalize(guestPath);
        Preopen? best = null;
        foreach (var mount in mounts)
        {
            var destination = RootfsPaths.Normalize(mount.GuestPath);
            if (Contains(destination, path) && (best is null || destination.Length > RootfsPaths.Normalize(best.GuestPath).Length))
                best = mount;
        }
        if (best is null)
            return RootfsPaths.Resolve(rootfs, path);
        var rest = path[RootfsPaths.Normalize(best.GuestPath).Length..];
        return RootfsPaths.Resolve(best.HostPath, rest);
    }

    // Component-wise: /out holds /out and /out/x, but not /outside.
    private static bool Contains(string directory, string path) =>
        directory == "/" || path == directory || path.StartsWith(directory + "/", StringComparison.Ordinal);
}
