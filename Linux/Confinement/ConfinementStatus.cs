using System.Globalization;

namespace WasmKata.Linux.Confinement;

/// <summary>What <c>/proc/PID/status</c> (or a task's) says about a process's privilege.</summary>
/// <param name="Uids">Real, effective, saved and filesystem uid.</param>
/// <param name="Gids">Real, effective, saved and filesystem gid.</param>
/// <param name="CapEff">Effective capabilities (a bit mask).</param>
/// <param name="CapPrm">Permitted capabilities.</param>
/// <param name="CapBnd">The bounding set.</param>
/// <param name="CapAmb">Ambient capabilities.</param>
/// <param name="NoNewPrivs">Whether no_new_privs is set.</param>
/// <param name="Seccomp">0 none, 1 strict, 2 filter.</param>
public sealed record ConfinementStatus(
    IReadOnlyList<uint> Uids, IReadOnlyList<uint> Gids, ulong CapEff, ulong CapPrm, ulong CapBnd, ulong CapAmb, bool NoNewPrivs, int Seccomp)
{
    /// <summary>Reads <paramref name="statusPath"/>, e.g. <c>/proc/self/status</c> or <c>/proc/123/task/124/status</c>.</summary>
    public static ConfinementStatus Read(string statusPath) => Parse(File.ReadAllLines(statusPath));

    /// <summary>Parses the lines of a status file.</summary>
    public static ConfinementStatus Parse(IEnumerable<string> lines)
    {
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in lines)
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0)
                fields[line[..colon]] = line[(colon + 1)..].Trim();
        }
        string Field(string name) => fields.TryGetValue(name, out var value)
            ? value
            : throw new InvalidDataException($"status has no {name} line");
        static IReadOnlyList<uint> Ids(string value) =>
            value.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Select(v => uint.Parse(v, CultureInfo.InvariantCulture)).ToArray();
        static ulong Mask(string value) => ulong.Parse(value, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        return new ConfinementStatus(
            Ids(Field("Uid")), Ids(Field("Gid")),
            Mask(Field("CapEff")), Mask(Field("CapPrm")), Mask(Field("CapBnd")), Mask(Field("CapAmb")),
            Field("NoNewPrivs") == "1",
            int.Parse(Field("Seccomp"), CultureInfo.InvariantCulture));
    }

    /// <summary>No uid or gid 0, no capability in any set, no_new_privs: what stage 1 of a guest host leaves.</summary>
    public bool HoldsNothing =>
        Uids.All(u => u != 0) && Gids.All(g => g != 0) && CapEff == 0 && CapPrm == 0 && CapBnd == 0 && CapAmb == 0 && NoNewPrivs;

    /// <summary>One line for logs and errors.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"uid {string.Join('/', Uids)} gid {string.Join('/', Gids)} CapEff {CapEff:x} CapPrm {CapPrm:x} CapBnd {CapBnd:x} CapAmb {CapAmb:x} NoNewPrivs {(NoNewPrivs ? 1 : 0)} Seccomp {Seccomp}");
}
