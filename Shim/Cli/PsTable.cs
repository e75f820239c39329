using System.Globalization;
using System.Text;
using WasmKata.Inspection;

namespace WasmKata.Cli;

/// <summary>`wasmkata ps`: the shims, then every process of every container, as aligned tables.</summary>
internal static class PsTable
{
    public static string Render(IReadOnlyList<ShimSnapshot> snapshots)
    {
        var text = new StringBuilder();
        if (snapshots.Count == 0)
            return "no shim answered\n";
        Table(text, ["SHIM", "NAMESPACE", "SANDBOX", "CONTAINERS", "RSS", "STARTED", "CLUSTER"], snapshots.Select(s => new[]
        {
            Number(s.Shim.Pid), s.Shim.Namespace, s.Shim.Id, Number(s.Containers.Count), Bytes(s.Shim.ResidentBytes),
            Time(s.Shim.StartedAt), Cluster(s.Shim.Cluster),
        }));
        text.Append('\n');
        var rows = snapshots.SelectMany(s => s.Containers.SelectMany(c => c.Processes.Select(p => new[]
        {
            Number(s.Shim.Pid), c.Id, p.ExecId.Length == 0 ? "-" : p.ExecId, Number(p.Pid), p.Status.ToUpperInvariant(),
            p.ExitStatus is { } exit ? Number(exit) : "-", Time(p.StartedAt), Time(p.ExitedAt),
            Bytes(p.MemoryBytes), p.ExecId.Length == 0 && c.MemoryLimitBytes is { } limit ? Bytes(limit) : "-",
        })));
        Table(text, ["SHIM", "CONTAINER", "EXEC", "PID", "STATUS", "EXIT", "STARTED", "EXITED", "MEMORY", "LIMIT"], rows);
        return text.ToString();
    }

    internal static string Cluster(ClusterView? view) => view is null
        ? "-"
        : $"{view.SelfStatus}, {view.Members.Count} member{(view.Members.Count == 1 ? "" : "s")}" +
          (view.Members.Count(m => !m.Reachable) is > 0 and var n ? $", {n} unreachable" : "");

    internal static string Bytes(long bytes) => bytes switch
    {
        >= 1 << 30 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1 << 30):0.0} GiB"),
        >= 1 << 20 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1 << 20):0.0} MiB"),
        >= 1 << 10 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024.0:0.0} KiB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{bytes} B"),
    };

    internal static string Time(DateTimeOffset? time) =>
        time?.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture) ?? "-";

    private static string Number(long n) => n.ToString(CultureInfo.InvariantCulture);

    private static void Table(StringBuilder text, string[] header, IEnumerable<string[]> rows)
    {
        var all = rows.Prepend(header).ToList();
        var widths = header.Select((_, i) => all.Max(r => r[i].Length)).ToArray();
        foreach (var row in all)
            text.Append(string.Join("   ", row.Select((cell, i) => i == row.Length - 1 ? cell : cell.PadRight(widths[i])))).Append('\n');
    }
}
