namespace WasmKata.Linux.Cgroups;

/// <summary>An OCI <c>linux.cgroupsPath</c>, parsed as runc does: <c>slice:prefix:name</c> is systemd, anything else a cgroupfs path.</summary>
public abstract record CgroupsPath
{
    /// <summary>
    /// Parses <paramref name="value"/>: a value that does not start with '/' and has ':' must be <c>slice:prefix:name</c>
    /// (<see cref="SystemdCgroupsPath"/>); otherwise it is a <see cref="FsCgroupsPath"/>, absolute (from the hierarchy's
    /// root) or relative (to this process's own cgroup). Throws <see cref="FormatException"/> for an empty value, a
    /// malformed systemd triple, or '..' in a cgroupfs path.
    /// </summary>
    public static CgroupsPath Parse(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (value.Length == 0)
            throw new FormatException("the cgroups path is empty");

        if (!value.StartsWith('/') && value.Contains(':', StringComparison.Ordinal))
        {
            var parts = value.Split(':');
            if (parts.Length != 3)
                throw new FormatException($"cgroups path '{value}' must be \"slice:prefix:name\" for systemd");

            if (parts[2].Length == 0 || parts[2].EndsWith(".slice", StringComparison.Ordinal))
                throw new FormatException($"cgroups path '{value}' must name a scope (a process cannot be put in a slice)");

            return new SystemdCgroupsPath(parts[0], parts[1], parts[2]);
        }

        if (value.Split('/').Contains(".."))
            throw new FormatException($"cgroups path '{value}' must not contain '..'");

        return new FsCgroupsPath(value);
    }
}

/// <summary>A cgroupfs path: absolute from the root of each hierarchy, or relative to this process's own cgroup there.</summary>
/// <param name="Path">As given, e.g. <c>/k8s.io/abc</c> or <c>wasmkata/abc</c>.</param>
public sealed record FsCgroupsPath(string Path) : CgroupsPath
{
    /// <summary>Whether <see cref="Path"/> starts at the hierarchy's root.</summary>
    public bool IsAbsolute => Path.StartsWith('/');

    /// <inheritdoc />
    public override string ToString() => Path;
}

/// <summary>A systemd cgroups path: the scope unit <c>prefix-name.scope</c> (or <c>name.scope</c>) in <c>slice</c>.</summary>
/// <param name="Slice">The slice the unit goes in; empty means <c>system.slice</c>, as runc does.</param>
/// <param name="Prefix">Prepended to the unit name with '-', e.g. <c>cri-containerd</c>.</param>
/// <param name="Name">The sandbox's name, e.g. its id.</param>
public sealed record SystemdCgroupsPath(string Slice, string Prefix, string Name) : CgroupsPath
{
    /// <summary>The default slice.</summary>
    public const string DefaultSlice = "system.slice";

    /// <summary>The slice, with the default filled in.</summary>
    public string SliceUnit => Slice.Length == 0 ? DefaultSlice : Slice;

    /// <summary>The transient scope unit: <c>prefix-name.scope</c>, or <c>name.scope</c> without a prefix.</summary>
    public string UnitName => Prefix.Length == 0 ? Name + ".scope" : $"{Prefix}-{Name}.scope";

    /// <inheritdoc />
    public override string ToString() => $"{Slice}:{Prefix}:{Name}";
}
