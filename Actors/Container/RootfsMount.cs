using WasmKata.Linux.Idmap;
using WasmKata.Linux.Mounts;

namespace WasmKata.Actors.Container;

/// <summary>
/// The container's rootfs mounts: made once at Create, released once by whichever comes first of delete, a failed
/// Create and the actor stopping.
/// </summary>
internal sealed class RootfsMount
{
    private RootfsMount(string path, bool mounted)
    {
        Path = path;
        IsMounted = mounted;
    }

    public string Path { get; }

    public bool IsMounted { get; private set; }

    /// <summary>Nothing mounted yet (or nothing to mount: the rootfs is the bundle's directory).</summary>
    public static RootfsMount None(string path) => new(path, false);

    public static RootfsMount Mount(IReadOnlyList<MountSpec> mounts, string path, IdmapUserNamespace? idmap = null)
    {
        if (idmap is not null)
            return MountIdmapped(mounts, path, idmap);
        if (mounts.Count == 0)
            return None(path);
        Directory.CreateDirectory(path);
        Mounts.MountAll(mounts, path);
        return new RootfsMount(path, true);
    }

    // Process isolation: the rootfs as the sandbox's range root sees it (on-disk id n as base + n), attached at the
    // bundle's rootfs, where the daemon reads the module and hooks find it; the guest host gets a descriptor of it. A
    // rootfs that is the bundle's own directory is bound idmapped over itself.
    private static RootfsMount MountIdmapped(IReadOnlyList<MountSpec> mounts, string path, IdmapUserNamespace idmap)
    {
        if (mounts.Count == 0)
        {
            using var self = IdmappedMount.Clone(path, idmap, recursive: true);
            self.MoveTo(path);
            return new RootfsMount(path, true);
        }
        Directory.CreateDirectory(path);
        IdmappedRootfs.Mount(mounts, path, idmap);
        return new RootfsMount(path, true);
    }

    /// <summary>Unmounts once; later calls do nothing. A failure is thrown and leaves it mounted, so a later call retries.</summary>
    public void Release()
    {
        if (!IsMounted)
            return;
        Mounts.UnmountAll(Path);
        IsMounted = false;
    }

    /// <summary><see cref="Release"/> for when the container goes away regardless: a failure goes to <paramref name="onError"/>.</summary>
    public void ReleaseOrReport(Action<Exception> onError)
    {
        try
        {
            Release();
        }
        catch (Exception e)
        {
            IsMounted = false;
            onError(e);
        }
    }
}
