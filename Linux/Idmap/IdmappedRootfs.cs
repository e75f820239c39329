using WasmKata.Linux.Mounts;

namespace WasmKata.Linux.Idmap;

/// <summary>
/// Mounts a container's rootfs, as containerd describes it, so that its on-disk ids 0..N-1 show as a sandbox's host
/// ids: the guest host, running as the range's root, owns root's files, and what it creates is root's on disk.
/// </summary>
public static class IdmappedRootfs
{
    /// <summary>
    /// Mounts the one rootfs mount of <paramref name="mounts"/> (an overlay, or a bind of a directory) at
    /// <paramref name="target"/> through <paramref name="userNamespace"/>'s mapping. A bind is cloned with the mounts
    /// below it (rbind) or without (bind), read-only for <c>ro</c>; an overlay gets idmapped layers. Anything else,
    /// or more than one mount, is refused with a <see cref="MountException"/>. Unmount with <see cref="Mounts.Mounts.UnmountAll"/>.
    /// </summary>
    public static void Mount(IReadOnlyList<MountSpec> mounts, string target, IdmapUserNamespace userNamespace)
    {
        ArgumentNullException.ThrowIfNull(mounts);
        ArgumentException.ThrowIfNullOrEmpty(target);
        ArgumentNullException.ThrowIfNull(userNamespace);
        if (mounts.Count != 1)
        {
            throw new MountException(Interop.Errno.EOPNOTSUPP, "idmapped rootfs", string.Join(", ", mounts.Select(m => m.Source)), target,
                $"an idmapped rootfs is one overlay or bind mount; got {mounts.Count}");
        }

        var mount = mounts[0];
        if (!string.IsNullOrEmpty(mount.Target) && mount.Target != "/")
            throw new MountException(Interop.Errno.EOPNOTSUPP, mount.Type, mount.Source, mount.Target, "an idmapped rootfs mount has no target of its own");

        var options = MountOptions.Parse(mount.Options);
        if (mount.Type == "overlay")
        {
            IdmappedOverlay.Mount(mount, target, userNamespace);
        }
        else if (options.IsBind)
        {
            using var clone = IdmappedMount.Clone(mount.Source, userNamespace,
                recursive: (options.Flags & Interop.MS_REC) != 0, readOnly: (options.Flags & Interop.MS_RDONLY) != 0);
            clone.MoveTo(target);
        }
        else
        {
            throw new MountException(Interop.Errno.EOPNOTSUPP, mount.Type, mount.Source, target,
                "an idmapped rootfs is an overlay or a bind mount (other filesystems: mount them, then bind the directory)");
        }
    }
}
