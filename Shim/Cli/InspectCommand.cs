using WasmKata.Inspection;

namespace WasmKata.Cli;

/// <summary>
/// `wasmkata inspect ID`: one container as JSON, with its processes, its shim and its actor subtree. ID may also be
/// CONTAINER/EXEC or an exec id, for one process; it must name exactly one thing on the host.
/// </summary>
internal static class InspectCommand
{
    public static async Task<int> RunAsync(IReadOnlyList<ShimSnapshot> snapshots, string id, TextWriter stdout, TextWriter stderr)
    {
        var found = Find(snapshots, id);
        switch (found.Count)
        {
            case 0:
                await stderr.WriteLineAsync($"wasmkata: no container or process {id}");
                return 1;
            case > 1:
                await stderr.WriteLineAsync(
                    $"wasmkata: {id} names {found.Count} things (namespaces {string.Join(", ", found.Select(f => f.Shim.Namespace).Distinct())}); " +
                    "narrow it with --namespace or CONTAINER/EXEC");
                return 1;
            default:
                await stdout.WriteLineAsync(CliJson.Inspect(found[0]));
                return 0;
        }
    }

    internal static List<InspectOutput> Find(IReadOnlyList<ShimSnapshot> snapshots, string id)
    {
        var slash = id.IndexOf('/');
        var found = new List<InspectOutput>();
        foreach (var snapshot in snapshots)
        {
            foreach (var container in snapshot.Containers)
            {
                if (slash < 0 && container.Id == id)
                {
                    found.Add(new InspectOutput(snapshot.Shim, container, null, TreeCommand.Find(snapshot.Tree, container.ActorPath)));
                    continue;
                }
                foreach (var process in container.Processes.Where(p => p.ExecId.Length > 0))
                {
                    if (slash < 0 ? process.ExecId == id : id == $"{container.Id}/{process.ExecId}")
                        found.Add(new InspectOutput(snapshot.Shim, container with { Processes = [] }, process, TreeCommand.Find(snapshot.Tree, process.ActorPath)));
                }
            }
        }
        return found;
    }
}
