using WasmKata.Linux.Mounts;

namespace WasmKata.Linux.Idmap;

/// <summary>
/// The layers of an overlay mount's data string: lower directories (top first), the upper and work directories
/// relative to <see cref="UpperParent"/> (the deepest directory holding both: overlayfs needs them on one mount), and
/// every other option as it was.
/// </summary>
internal sealed record OverlayLayers(IReadOnlyList<string> Lower, string? UpperParent, string? Upper, string? Work, IReadOnlyList<string> Other)
{
    /// <summary>Parses <paramref name="data"/>; a missing lowerdir, a relative path or an upperdir without a workdir is refused.</summary>
    internal static OverlayLayers Parse(string data, string source, string target)
    {
        string? lower = null, upper = null, work = null;
        var other = new List<string>();
        foreach (var option in data.Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            if (option.StartsWith("lowerdir=", StringComparison.Ordinal))
                lower = option["lowerdir=".Length..];
            else if (option.StartsWith("upperdir=", StringComparison.Ordinal))
                upper = option["upperdir=".Length..];
            else if (option.StartsWith("workdir=", StringComparison.Ordinal))
                work = option["workdir=".Length..];
            else
                other.Add(option);
        }

        if (string.IsNullOrEmpty(lower))
            throw Bad("an overlay needs lowerdir=", source, target);
        if ((upper is null) != (work is null))
            throw Bad("upperdir= and workdir= come together", source, target);

        var lowers = lower.Split(':');
        foreach (var path in lowers.Append(upper ?? "/").Append(work ?? "/"))
        {
            if (!Path.IsPathRooted(path))
                throw Bad($"layer '{path}' is not an absolute path", source, target);
        }

        if (upper is null || work is null)
            return new OverlayLayers(lowers, null, null, null, other);

        var parent = CommonParent(Path.TrimEndingDirectorySeparator(upper), Path.TrimEndingDirectorySeparator(work));
        return new OverlayLayers(lowers, parent, Path.GetRelativePath(parent, upper), Path.GetRelativePath(parent, work), other);
    }

    private static string CommonParent(string a, string b)
    {
        var parent = Path.GetDirectoryName(a) ?? "/";
        while (parent != "/" && !b.StartsWith(parent + "/", StringComparison.Ordinal))
            parent = Path.GetDirectoryName(parent) ?? "/";
        return parent;
    }

    private static MountException Bad(string why, string source, string target) =>
        new(Interop.Errno.EINVAL, "idmapped overlay", source, target, why);
}
