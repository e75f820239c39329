namespace WasmKata.Linux.Cgroups;

/// <summary>Writes cgroupfs directly: v1 (one hierarchy per controller, also on hybrid hosts) or v2 (unified).</summary>
public sealed class CgroupfsDriver : ICgroupDriver
{
    // The v1 controllers a sandbox cgroup is made in: what it limits and what its stats come from.
    private static readonly string[] s_v1Controllers = ["memory", "cpu", "cpuacct", "pids"];
    private static readonly string[] s_v2Controllers = ["cpu", "memory", "pids"];

    private readonly CgroupMounts _mounts;
    private readonly CgroupHierarchy? _unified;

    /// <summary>A driver for this host: v1 when any v1 controller is mounted (legacy and hybrid), else v2.</summary>
    public CgroupfsDriver()
        : this(CgroupMounts.Read())
    {
    }

    /// <summary>A driver over <paramref name="mounts"/>, writing <paramref name="version"/> (default: <see cref="CgroupMounts.Mode"/>).</summary>
    public CgroupfsDriver(CgroupMounts mounts, CgroupVersion? version = null)
    {
        ArgumentNullException.ThrowIfNull(mounts);
        _mounts = mounts;
        Version = version ?? mounts.Mode ?? throw new CgroupException("no cgroup hierarchy is mounted");
        if (Version == CgroupVersion.V2)
            _unified = mounts.Unified ?? throw new CgroupException("no cgroup2 hierarchy is mounted");
    }

    /// <summary>The version this driver writes.</summary>
    public CgroupVersion Version { get; }

    /// <inheritdoc />
    public string Name => Version == CgroupVersion.V1 ? "cgroupfs v1" : "cgroupfs v2";

    /// <inheritdoc />
    public async Task<ISandboxCgroup> CreateAsync(CgroupsPath path, int pid, CgroupLimits limits, CancellationToken cancellationToken = default)
    {
        var fsPath = AsFsPath(path);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(pid);
        ArgumentNullException.ThrowIfNull(limits);

        var origin = CgroupMembership.Read(pid);
        var nodes = Nodes(fsPath).Select(n => n with { Origin = origin.In(n.Hierarchy) is { } o ? n.Hierarchy.Directory(o) : null }).ToArray();
        var group = new FsSandboxCgroup(fsPath, Version, nodes);
        try
        {
            foreach (var node in nodes)
            {
                Directory.CreateDirectory(node.Directory);
                if (Version == CgroupVersion.V2)
                    EnableControllers(node);
            }

            group.Apply(limits);
            foreach (var node in nodes)
                CgroupFiles.MoveProcess(node.Directory, pid);
        }
        catch
        {
            await group.RemoveAsync(CancellationToken.None).ConfigureAwait(false);
            throw;
        }

        return group;
    }

    /// <inheritdoc />
    public async Task RemoveAsync(CgroupsPath path, CancellationToken cancellationToken = default)
    {
        foreach (var node in Nodes(AsFsPath(path)))
            await CgroupFiles.RemoveTreeAsync(node.Directory, Path.GetDirectoryName(node.Directory)!, cancellationToken).ConfigureAwait(false);
    }

    private static FsCgroupsPath AsFsPath(CgroupsPath path) => path as FsCgroupsPath
        ?? throw new ArgumentException($"cgroups path '{path}' is for the systemd driver", nameof(path));

    // v2 controllers must be enabled in every ancestor's subtree_control before a cgroup gets their files. Failures are
    // left to show later: a limit then names the missing file, and stats leave the figure out.
    private static void EnableControllers(FsNode node)
    {
        var ancestor = node.Hierarchy.MountPoint;
        foreach (var part in Path.GetRelativePath(ancestor, node.Directory).Split('/'))
        {
            EnableIn(ancestor);
            ancestor = Path.Combine(ancestor, part);
        }
    }

    private static void EnableIn(string directory)
    {
        var available = Words(CgroupFiles.TryRead(directory, "cgroup.controllers"));
        var enabled = Words(CgroupFiles.TryRead(directory, "cgroup.subtree_control"));
        var wanted = s_v2Controllers.Where(c => available.Contains(c) && !enabled.Contains(c)).ToArray();
        if (wanted.Length == 0)
            return;

        try
        {
            CgroupFiles.Write(directory, "cgroup.subtree_control", string.Join(' ', wanted.Select(c => "+" + c)));
        }
        catch (CgroupException)
        {
            // EBUSY when the parent has processes of its own (no internal processes in v2): see above.
        }
    }

    private static string[] Words(string? text) =>
        (text ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    private IEnumerable<FsNode> Nodes(FsCgroupsPath path)
    {
        var self = path.IsAbsolute ? null : CgroupMembership.Read();
        IEnumerable<CgroupHierarchy> hierarchies = Version == CgroupVersion.V2
            ? [_unified!]
            : s_v1Controllers.Select(_mounts.V1).OfType<CgroupHierarchy>().DistinctBy(h => h.MountPoint);
        foreach (var hierarchy in hierarchies)
        {
            var cgroup = path.IsAbsolute
                ? path.Path
                : (self!.In(hierarchy) ?? throw new CgroupException($"this process is in no cgroup of {hierarchy.MountPoint}")).TrimEnd('/') + "/" + path.Path;
            yield return new FsNode(hierarchy, hierarchy.Directory(cgroup), null);
        }
    }
}

/// <summary>The directory of a sandbox cgroup in one hierarchy, and where its process came from there.</summary>
internal sealed record FsNode(CgroupHierarchy Hierarchy, string Directory, string? Origin)
{
    public bool Has(string controller) => Hierarchy.Version == CgroupVersion.V2 || Hierarchy.Controllers.Contains(controller);
}
