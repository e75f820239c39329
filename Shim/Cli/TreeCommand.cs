using System.Text;
using WasmKata.Inspection;

namespace WasmKata.Cli;

/// <summary>`wasmkata tree [ID]`: the live actor tree of each shim, or of the sandbox or container ID.</summary>
internal static class TreeCommand
{
    public static async Task<int> RunAsync(IReadOnlyList<ShimSnapshot> snapshots, string? id, TextWriter stdout, TextWriter stderr)
    {
        var text = new StringBuilder();
        foreach (var snapshot in snapshots)
        {
            if (id is null || snapshot.Shim.Id == id)
            {
                Render(text, snapshot, snapshot.Tree);
                continue;
            }
            if (snapshot.Containers.FirstOrDefault(c => c.Id == id) is { } container && Find(snapshot.Tree, container.ActorPath) is { } node)
                Render(text, snapshot, node);
        }
        if (text.Length == 0 && id is not null)
        {
            await stderr.WriteLineAsync($"wasmkata: no sandbox or container {id}");
            return 1;
        }
        await stdout.WriteAsync(text.ToString());
        return 0;
    }

    /// <summary>The node at <paramref name="path"/> under <paramref name="root"/>, if any.</summary>
    internal static ActorNode? Find(ActorNode root, string path) =>
        root.Path == path ? root : root.Children.Select(c => Find(c, path)).FirstOrDefault(n => n is not null);

    internal static void Render(StringBuilder text, ShimSnapshot snapshot, ActorNode root)
    {
        var shim = snapshot.Shim;
        text.Append($"shim {shim.Pid} · sandbox {shim.Id} · namespace {shim.Namespace} · rss {PsTable.Bytes(shim.ResidentBytes)}")
            .Append($" · cluster {PsTable.Cluster(shim.Cluster)}\n");
        var lines = new List<(string Name, string State)>();
        Walk(root, "", "", lines);
        var width = lines.Max(l => l.Name.Length);
        foreach (var (name, state) in lines)
            text.Append(state.Length == 0 ? name : name.PadRight(width + 3) + state).Append('\n');
        text.Append('\n');
    }

    private static void Walk(ActorNode node, string lead, string childLead, List<(string, string)> lines)
    {
        lines.Add((lead + node.Name, node.State));
        for (var i = 0; i < node.Children.Count; i++)
        {
            var last = i == node.Children.Count - 1;
            Walk(node.Children[i], childLead + (last ? "└── " : "├── "), childLead + (last ? "    " : "│   "), lines);
        }
    }
}
