namespace WasmKata.Linux.Mounts;

/// <summary>containerd's translation of mount option strings into mount(2) flags and a data string.</summary>
internal readonly record struct MountOptions(ulong Flags, string Data, bool Loop)
{
    // Per-mount flags a bind mount ignores on creation and only honours on a MS_REMOUNT|MS_BIND.
    internal const ulong BindRemountable = Interop.MS_RDONLY | Interop.MS_NOSUID | Interop.MS_NODEV | Interop.MS_NOEXEC
        | Interop.MS_NOATIME | Interop.MS_NODIRATIME | Interop.MS_RELATIME | Interop.MS_STRICTATIME;

    private static readonly Dictionary<string, (bool Clear, ulong Flag)> s_flags = new(StringComparer.Ordinal)
    {
        ["async"] = (true, Interop.MS_SYNCHRONOUS),
        ["atime"] = (true, Interop.MS_NOATIME),
        ["bind"] = (false, Interop.MS_BIND),
        ["defaults"] = (false, 0),
        ["dev"] = (true, Interop.MS_NODEV),
        ["diratime"] = (true, Interop.MS_NODIRATIME),
        ["dirsync"] = (false, Interop.MS_DIRSYNC),
        ["exec"] = (true, Interop.MS_NOEXEC),
        ["mand"] = (false, Interop.MS_MANDLOCK),
        ["noatime"] = (false, Interop.MS_NOATIME),
        ["nodev"] = (false, Interop.MS_NODEV),
        ["nodiratime"] = (false, Interop.MS_NODIRATIME),
        ["noexec"] = (false, Interop.MS_NOEXEC),
        ["nomand"] = (true, Interop.MS_MANDLOCK),
        ["norelatime"] = (true, Interop.MS_RELATIME),
        ["nostrictatime"] = (true, Interop.MS_STRICTATIME),
        ["nosuid"] = (false, Interop.MS_NOSUID),
        ["rbind"] = (false, Interop.MS_BIND | Interop.MS_REC),
        ["relatime"] = (false, Interop.MS_RELATIME),
        ["remount"] = (false, Interop.MS_REMOUNT),
        ["ro"] = (false, Interop.MS_RDONLY),
        ["rw"] = (true, Interop.MS_RDONLY),
        ["strictatime"] = (false, Interop.MS_STRICTATIME),
        ["suid"] = (true, Interop.MS_NOSUID),
        ["sync"] = (false, Interop.MS_SYNCHRONOUS),
    };

    internal bool IsBind => (Flags & Interop.MS_BIND) != 0;

    /// <summary>Known names set or clear flags in order, "loop" is noted, everything else joins the data string.</summary>
    internal static MountOptions Parse(IReadOnlyList<string> options)
    {
        ulong flags = 0;
        var loop = false;
        var data = new List<string>();
        foreach (var option in options)
        {
            if (s_flags.TryGetValue(option, out var entry))
                flags = entry.Clear ? flags & ~entry.Flag : flags | entry.Flag;
            else if (option == "loop")
                loop = true;
            else
                data.Add(option);
        }

        return new MountOptions(flags, string.Join(',', data), loop);
    }
}
