using WasmKata.Linux.Mounts;

namespace WasmKata.Linux.Cgroups;

/// <summary>The cgroup version a driver writes.</summary>
public enum CgroupVersion
{
    /// <summary>Legacy: one hierarchy per controller (or group of controllers); also hybrid hosts.</summary>
    V1 = 1,

    /// <summary>Unified: one hierarchy for all controllers.</summary>
    V2 = 2,
}

/// <summary>One mounted cgroup hierarchy.</summary>
/// <param name="Version">cgroup (v1) or cgroup2.</param>
/// <param name="MountPoint">Where it is mounted, e.g. <c>/sys/fs/cgroup/memory</c>.</param>
/// <param name="Root">The cgroup shown at the mount point (mountinfo's root field), "/" unless bind-mounted or namespaced.</param>
/// <param name="Controllers">v1: its controllers and named hierarchies (<c>name=systemd</c>); v2: empty (see cgroup.controllers).</param>
public sealed record CgroupHierarchy(CgroupVersion Version, string MountPoint, string Root, IReadOnlyList<string> Controllers)
{
    /// <summary>The directory of cgroup <paramref name="cgroupPath"/> (a path from the hierarchy's root, as /proc/PID/cgroup gives it).</summary>
    public string Directory(string cgroupPath)
    {
        var path = "/" + cgroupPath.Trim('/');
        var root = Root.TrimEnd('/');
        if (root.Length > 0)
        {
            if (path != root && !path.StartsWith(root + "/", StringComparison.Ordinal))
                throw new CgroupException($"cgroup {cgroupPath} is outside {Root}, the part of the hierarchy mounted at {MountPoint}");

            path = path[root.Length..];
        }

        return path.Length <= 1 ? MountPoint : MountPoint.TrimEnd('/') + path;
    }

    /// <summary>The path from the hierarchy's root of the cgroup at <paramref name="directory"/> (the inverse of <see cref="Directory"/>).</summary>
    public string CgroupPath(string directory)
    {
        var relative = Path.GetRelativePath(MountPoint, directory);
        var root = Root.TrimEnd('/');
        return relative == "." ? (root.Length == 0 ? "/" : root) : root + "/" + relative;
    }
}

/// <summary>The cgroup hierarchies of this mount namespace, read from /proc/self/mountinfo.</summary>
public sealed class CgroupMounts
{
    // v1 mount options that are not controllers.
    private static readonly HashSet<string> s_notControllers =
        ["rw", "ro", "none", "xattr", "noprefix", "clone_children", "cpuset_v2_mode", "favordynmods", "nsdelegate", "memory_recursiveprot", "memory_localevents"];

    private CgroupMounts(IReadOnlyList<CgroupHierarchy> hierarchies) => Hierarchies = hierarchies;

    /// <summary>Every cgroup mount, in mount table order.</summary>
    public IReadOnlyList<CgroupHierarchy> Hierarchies { get; }

    /// <summary>
    /// V1 when any v1 hierarchy carries a real controller (legacy and hybrid hosts, as runc decides), else V2 when a
    /// cgroup2 hierarchy is mounted; null when cgroups are not mounted at all.
    /// </summary>
    public CgroupVersion? Mode =>
        Hierarchies.Any(h => h.Version == CgroupVersion.V1 && h.Controllers.Any(c => !c.StartsWith("name=", StringComparison.Ordinal)))
            ? CgroupVersion.V1
            : Unified is null ? null : CgroupVersion.V2;

    /// <summary>The first cgroup2 mount (on a hybrid host: /sys/fs/cgroup/unified).</summary>
    public CgroupHierarchy? Unified => Hierarchies.FirstOrDefault(h => h.Version == CgroupVersion.V2);

    /// <summary>Reads this process's mount table.</summary>
    public static CgroupMounts Read() => Parse(File.ReadAllText("/proc/self/mountinfo"));

    /// <summary>Parses mountinfo text.</summary>
    public static CgroupMounts Parse(string mountInfo)
    {
        var result = new List<CgroupHierarchy>();
        foreach (var line in mountInfo.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            // id parent major:minor root mountpoint options [optional...] - fstype source superoptions
            var fields = line.Split(' ');
            var separator = Array.IndexOf(fields, "-", 6);
            if (separator < 0 || separator + 3 >= fields.Length)
                continue;

            var type = fields[separator + 1];
            var root = MountInfo.Unescape(fields[3]);
            var mountPoint = MountInfo.Unescape(fields[4]);
            if (type == "cgroup2")
            {
                result.Add(new CgroupHierarchy(CgroupVersion.V2, mountPoint, root, []));
            }
            else if (type == "cgroup")
            {
                var controllers = fields[separator + 3].Split(',')
                    .Where(o => !s_notControllers.Contains(o) && !o.StartsWith("release_agent=", StringComparison.Ordinal))
                    .ToArray();
                result.Add(new CgroupHierarchy(CgroupVersion.V1, mountPoint, root, controllers));
            }
        }

        return new CgroupMounts(result);
    }

    /// <summary>The v1 hierarchy carrying <paramref name="controller"/> (e.g. "memory" or "name=systemd"), if mounted.</summary>
    public CgroupHierarchy? V1(string controller) =>
        Hierarchies.FirstOrDefault(h => h.Version == CgroupVersion.V1 && h.Controllers.Contains(controller));
}

/// <summary>Which cgroup a process is in, per hierarchy, from /proc/PID/cgroup.</summary>
public sealed class CgroupMembership
{
    private readonly Dictionary<string, string> _byController;

    private CgroupMembership(Dictionary<string, string> byController, string? unified)
    {
        _byController = byController;
        Unified = unified;
    }

    /// <summary>The process's cgroup in the unified (v2) hierarchy (the "0::" line), if any.</summary>
    public string? Unified { get; }

    /// <summary>Reads /proc/<paramref name="pid"/>/cgroup ("self" for 0).</summary>
    public static CgroupMembership Read(int pid = 0) =>
        Parse(File.ReadAllText(pid == 0 ? "/proc/self/cgroup" : $"/proc/{pid.ToString(System.Globalization.CultureInfo.InvariantCulture)}/cgroup"));

    /// <summary>Parses /proc/PID/cgroup text ("id:controllers:path" lines).</summary>
    public static CgroupMembership Parse(string text)
    {
        var byController = new Dictionary<string, string>(StringComparer.Ordinal);
        string? unified = null;
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var first = line.IndexOf(':', StringComparison.Ordinal);
            var second = first < 0 ? -1 : line.IndexOf(':', first + 1);
            if (second < 0)
                continue;

            var controllers = line[(first + 1)..second];
            var path = line[(second + 1)..];
            if (controllers.Length == 0)
            {
                unified = path;
                continue;
            }

            foreach (var controller in controllers.Split(','))
                byController[controller] = path;
        }

        return new CgroupMembership(byController, unified);
    }

    /// <summary>The process's cgroup in the hierarchy of <paramref name="hierarchy"/>.</summary>
    public string? In(CgroupHierarchy hierarchy)
    {
        if (hierarchy.Version == CgroupVersion.V2)
            return Unified;

        foreach (var controller in hierarchy.Controllers)
        {
            if (_byController.TryGetValue(controller, out var path))
                return path;
        }

        return null;
    }
}
