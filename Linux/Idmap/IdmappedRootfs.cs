using WasmKata.Linux.Mounts;

namespace WasmKata.Linux.Idmap;

/// <summary>
/// Mounts a container's rootfs, as containerd describes it, so that its on-disk ids 0..N-1 show as a sandbox's host
/// ids: the guest host, running as the range's root, owns root's files, and what it creates is root's on disk.
/// </summary>
public static class IdmappedRootfs
{
    private const string Detached = "(detached)";

    /// <summary>
    /// Mounts the rootfs <paramref name="mounts"/> describe at <paramref name="target"/> (see <see cref="Create"/>).
    /// Unmount with <see cref="Mounts.Mounts.UnmountAll"/>.
    /// </summary>
    public static void Mount(IReadOnlyList<MountSpec> mounts, string target, IdmapUserNamespace userNamespace)
    {
        ArgumentException.ThrowIfNullOrEmpty(target);
        using var mount = Create(mounts, userNamespace);
        mount.MoveTo(target);
    }

    /// <summary>
    /// The one rootfs mount of <paramref name="mounts"/> (an overlay, or a bind of a directory) as a detached mount
    /// through <paramref name="userNamespace"/>'s mapping, attached nowhere: to hand over as a directory fd, or to
    /// attach with <see cref="IdmappedMount.MoveTo"/>. A bind is cloned with the mounts below it (rbind) or without
    /// (bind), read-only for <c>ro</c>; an overlay gets idmapped layers. Anything else, or more than one mount, is
    /// refused with a <see cref="MountException"/>.
    /// </summary>
    public static IdmappedMount Create(IReadOnlyList<MountSpec> mounts, IdmapUserNamespace userNamespace)
    {
        ArgumentNullException.ThrowIfNull(mounts);
        ArgumentNullException.ThrowIfNull(userNamespace);
        if (mounts.Count != 1)
        {
            throw new MountException(Interop.Errno.EOPNOTSUPP, "idmapped rootfs", string.Join(", ", mounts.Select(m => m.Source)), Detached,
                $"an idmapped rootfs is one overlay or bind mount; got {mounts.Count}");
        }

        var mount = mounts[0];
        if (!string.IsNullOrEmpty(mount.Target) && mount.Target != "/")
            throw new MountException(Interop.Errno.EOPNOTSUPP, mount.Type, mount.Source, mount.Target, "an idmapped rootfs mount has no target of its own");

        var options = MountOptions.Parse(mount.Options);
        if (mount.Type == "overlay")
            return IdmappedOverlay.Create(mount, userNamespace);

        if (options.IsBind)
        {
            return IdmappedMount.Clone(mount.Source, userNamespace,
                recursive: (options.Flags & Interop.MS_REC) != 0, readOnly: (options.Flags & Interop.MS_RDONLY) != 0);
        }

        throw new MountException(Interop.Errno.EOPNOTSUPP, mount.Type, mount.Source, Detached,
            "an idmapped rootfs is an overlay or a bind mount (other filesystems: mount them, then bind the directory)");
    }
}
