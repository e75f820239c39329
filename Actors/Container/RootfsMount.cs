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

    public static RootfsMount Mount(IReadOnlyList<MountSpec> mounts, string path)
    {
        if (mounts.Count == 0)
            return None(path);
        Directory.CreateDirectory(path);
        Mounts.MountAll(mounts, path);
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
