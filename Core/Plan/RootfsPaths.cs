namespace WasmKata.Core.Plan;

/// <summary>Resolves a guest path to a host path inside a rootfs as a chroot would, so a symlink cannot lead out.</summary>
internal static class RootfsPaths
{
    private const int MaxSymlinks = 40;

    /// <summary>
    /// The host path of <paramref name="guestPath"/> under <paramref name="rootfs"/>: ".." stops at the root and
    /// symlinks are followed relative to it (absolute targets restart at the rootfs).
    /// </summary>
    public static string Resolve(string rootfs, string guestPath)
    {
        var pending = new Stack<string>(Split(guestPath).Reverse());
        var resolved = new List<string>();
        var links = 0;
        while (pending.TryPop(out var part))
        {
            if (part == ".")
                continue;
            if (part == "..")
            {
                if (resolved.Count > 0)
                    resolved.RemoveAt(resolved.Count - 1);
                continue;
            }
            var host = Path.Join(rootfs, string.Join('/', resolved), part);
            if (new FileInfo(host).LinkTarget is { } target)
            {
                if (++links > MaxSymlinks)
                    throw new IOException($"too many levels of symbolic links in {guestPath}");
                if (target.StartsWith('/'))
                    resolved.Clear();
                foreach (var p in Split(target).Reverse())
                    pending.Push(p);
                continue;
            }
            resolved.Add(part);
        }
        return resolved.Count == 0 ? rootfs : Path.Join(rootfs, string.Join('/', resolved));
    }

    /// <summary>The guest path made absolute with "." and ".." folded, e.g. "/a/../b/" is "/b".</summary>
    public static string Normalize(string guestPath)
    {
        var parts = new List<string>();
        foreach (var part in Split(guestPath))
        {
            if (part == "..")
            {
                if (parts.Count > 0)
                    parts.RemoveAt(parts.Count - 1);
            }
            else if (part != ".")
            {
                parts.Add(part);
            }
        }
        return "/" + string.Join('/', parts);
    }

    private static string[] Split(string path) => path.Split('/', StringSplitOptions.RemoveEmptyEntries);
}
