namespace WasmKata.Linux.Mounts;

/// <summary>Mounts a container's rootfs the way containerd does, and takes it down again.</summary>
public static class Mounts
{
    // mount(2) copies at most one page of data; a longer overlay lowerdir would be cut off silently.
    private const int MaxDataBytes = 4095;
    private const int MaxUnmountRounds = 128;

    /// <summary>
    /// Mounts each entry, in order, onto <paramref name="rootfs"/> (or rootfs/Target). If one fails, the ones
    /// already mounted are unmounted in reverse and a <see cref="MountException"/> names the failing mount.
    /// </summary>
    public static void MountAll(IReadOnlyList<MountSpec> mounts, string rootfs)
    {
        ArgumentNullException.ThrowIfNull(mounts);
        ArgumentException.ThrowIfNullOrEmpty(rootfs);
        var done = new List<string>(mounts.Count);
        try
        {
            foreach (var mount in mounts)
                MountOne(mount, TargetOf(mount, rootfs), done);
        }
        catch
        {
            for (var i = done.Count - 1; i >= 0; i--)
                TryUnmountOnce(done[i]);

            throw;
        }
    }

    /// <summary>
    /// Unmounts <paramref name="target"/> until it is no longer a mount point, detaching lazily when busy.
    /// A missing directory or nothing mounted is fine.
    /// </summary>
    public static void UnmountAll(string target)
    {
        ArgumentException.ThrowIfNullOrEmpty(target);
        for (var round = 0; round < MaxUnmountRounds; round++)
        {
            if (!IsMountPoint(target))
                return;

            if (Interop.Umount2(target, 0) == 0)
                continue;

            var errno = Interop.Errno.Last;
            if (errno is Interop.Errno.EINVAL or Interop.Errno.ENOENT)
                return;

            if (errno != Interop.Errno.EBUSY)
                UnixErrors.Throw(errno, "umount", target);

            if (Interop.Umount2(target, Interop.MNT_DETACH) != 0)
                UnixErrors.ThrowLast("umount (MNT_DETACH)", target);
        }

        throw new IOException($"umount '{target}': still a mount point after {MaxUnmountRounds} unmounts.");
    }

    /// <summary>True when some mount's mount point is exactly <paramref name="path"/> (symlinks resolved).</summary>
    public static bool IsMountPoint(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var resolved = RealPath(path);
        return resolved is not null && MountInfo.ReadMountPoints().Contains(resolved, StringComparer.Ordinal);
    }

    /// <summary>Recursively bind-mounts <paramref name="source"/> onto <paramref name="target"/>, read-only if asked.</summary>
    public static void BindMount(string source, string target, bool readOnly)
    {
        ArgumentException.ThrowIfNullOrEmpty(source);
        ArgumentException.ThrowIfNullOrEmpty(target);
        var options = readOnly ? new[] { "rbind", "ro" } : ["rbind", "rw"];
        MountAll([new MountSpec("bind", source, string.Empty, options)], target);
    }

    private static void MountOne(MountSpec mount, string target, List<string> done)
    {
        var options = MountOptions.Parse(mount.Options);
        if (options.Loop)
            throw new MountException(Interop.Errno.EOPNOTSUPP, mount.Type, mount.Source, target, "loop mounts are not supported");

        if (System.Text.Encoding.UTF8.GetByteCount(options.Data) > MaxDataBytes)
        {
            throw new MountException(Interop.Errno.EINVAL, mount.Type, mount.Source, target,
                $"mount data is longer than {MaxDataBytes} bytes");
        }

        if (Interop.Mount(mount.Source, target, mount.Type, options.Flags, options.Data.Length == 0 ? null : options.Data) != 0)
            throw new MountException(Interop.Errno.Last, mount.Type, mount.Source, target);

        done.Add(target);

        // A bind ignores ro/nosuid/... on creation; they take effect only through a bind remount.
        var perMount = options.Flags & MountOptions.BindRemountable;
        if (options.IsBind && (options.Flags & Interop.MS_REMOUNT) == 0 && (perMount & Interop.MS_RDONLY) != 0)
        {
            if (Interop.Mount(null, target, null, Interop.MS_REMOUNT | Interop.MS_BIND | perMount, null) != 0)
            {
                throw new MountException(Interop.Errno.Last, mount.Type, mount.Source, target,
                    "read-only remount: " + Interop.Errno.Describe(Interop.Errno.Last));
            }
        }
    }

    private static string TargetOf(MountSpec mount, string rootfs)
    {
        var root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(rootfs));
        if (string.IsNullOrEmpty(mount.Target))
            return root;

        var target = Path.GetFullPath(Path.Join(root, mount.Target.TrimStart('/')));
        if (target != root && !target.StartsWith(root + "/", StringComparison.Ordinal))
            throw new MountException(Interop.Errno.EINVAL, mount.Type, mount.Source, mount.Target, "target escapes the rootfs");

        return target;
    }

    private static void TryUnmountOnce(string target)
    {
        if (Interop.Umount2(target, 0) != 0 && Interop.Errno.Last == Interop.Errno.EBUSY)
            Interop.Umount2(target, Interop.MNT_DETACH);
    }

    private static string? RealPath(string path)
    {
        var resolved = Interop.RealPath(path, 0);
        if (resolved == 0)
            return null;

        try
        {
            return System.Runtime.InteropServices.Marshal.PtrToStringUTF8(resolved);
        }
        finally
        {
            Interop.Free(resolved);
        }
    }
}
