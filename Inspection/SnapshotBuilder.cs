using WasmKata.Actors;
using static WasmKata.Actors.TaskProtocol;

namespace WasmKata.Inspection;

/// <summary>Turns what a snapshot walk gathered into the <see cref="ShimSnapshot"/> the CLI shows; pure.</summary>
internal static class SnapshotBuilder
{
    private static readonly HashSet<string> s_pumps = ["stdin", "stdout", "stderr"];

    /// <summary>The key of one process: container id and exec id (empty for init).</summary>
    public static string Key(string containerId, string execId) => containerId + "\0" + execId;

    public static ShimSnapshot Build(string sandboxPath, ShimIdentity identity, long residentBytes,
        IReadOnlyDictionary<string, DateTimeOffset> startedAt, SnapshotParts parts, bool complete)
    {
        // Which actor runs which process: known from the process actors' own answers.
        var actorOf = parts.Descriptions.ToDictionary(d => Key(d.Value.ContainerId, d.Value.ExecId), d => d.Key);
        var containerIds = parts.ContainerIds ?? [];
        var containers = containerIds.Select(id => Container(id, sandboxPath, startedAt, parts, actorOf)).ToList();
        var shim = new ShimInfo(identity.Pid, identity.Id, identity.Namespace, identity.Bundle, identity.StartedAt, residentBytes, null);
        var tree = new ActorNode(
            sandboxPath[(sandboxPath.LastIndexOf('/') + 1)..], sandboxPath, "sandbox",
            containerIds.Count == 1 ? "1 container" : $"{containerIds.Count} containers",
            Children("", 1, sandboxPath, parts));
        return new ShimSnapshot(shim, containers, tree, complete);
    }

    private static ContainerInfo Container(string id, string sandboxPath, IReadOnlyDictionary<string, DateTimeOffset> startedAt,
        SnapshotParts parts, Dictionary<string, string> actorOf)
    {
        var processes = parts.Views.Values
            .Where(v => v.ContainerId == id)
            .OrderBy(v => v.ExecId.Length == 0 ? 0 : 1).ThenBy(v => v.ExecId, StringComparer.Ordinal)
            .Select(v => Process(v, sandboxPath, startedAt, parts, actorOf))
            .ToList();
        var init = processes.FirstOrDefault(p => p.ExecId.Length == 0);
        parts.ContainerStats.TryGetValue(id, out var stats);
        var actorPath = actorOf.TryGetValue(Key(id, ""), out var initActor) ? sandboxPath + "/" + Parent(initActor) : "";
        return new ContainerInfo(
            id, init is null ? "" : parts.Views[Key(id, "")].Bundle, init?.Status ?? "Unknown", init?.Pid ?? 0, init?.ExitStatus,
            init?.StartedAt, init?.ExitedAt, stats?.MemoryBytes ?? init?.MemoryBytes ?? 0, stats?.MemoryLimitBytes,
            stats?.CpuNanoseconds ?? init?.CpuNanoseconds ?? 0, actorPath, processes);
    }

    private static ProcessInfo Process(ProcessView view, string sandboxPath, IReadOnlyDictionary<string, DateTimeOffset> startedAt,
        SnapshotParts parts, Dictionary<string, string> actorOf)
    {
        var key = Key(view.ContainerId, view.ExecId);
        var actor = actorOf.GetValueOrDefault(key);
        var stats = actor is null ? null : parts.ProcessStats.GetValueOrDefault(actor);
        var pumps = actor is null
            ? []
            : parts.Actors.Where(a => Parent(a) == actor).Select(a => a[(a.LastIndexOf('/') + 1)..]).ToList();
        var stopped = view.Status == ProcessStatus.Stopped;
        return new ProcessInfo(
            view.ContainerId, view.ExecId, view.Pid, view.Status.ToString(), stopped ? view.ExitStatus : null,
            startedAt.TryGetValue(key, out var started) ? started : null, stopped ? view.ExitedAt : null,
            stats?.MemoryBytes ?? 0, stats?.CpuNanoseconds ?? 0,
            new StdioInfo(view.Stdio.Stdin, view.Stdio.Stdout, view.Stdio.Stderr, view.Stdio.Terminal),
            actor is null ? "" : sandboxPath + "/" + actor, pumps);
    }

    private static List<ActorNode> Children(string parent, int depth, string sandboxPath, SnapshotParts parts) => parts.Actors
        .Where(a => Parent(a) == parent)
        .Select(a => new ActorNode(
            a[(a.LastIndexOf('/') + 1)..], sandboxPath + "/" + a, Kind(a, depth), State(a, depth, parts),
            Children(a, depth + 1, sandboxPath, parts)))
        .ToList();

    private static string Kind(string relative, int depth)
    {
        var name = relative[(relative.LastIndexOf('/') + 1)..];
        return depth switch
        {
            1 when name is "signals" or "events" => name,
            1 => "container",
            2 => "process",
            3 when s_pumps.Contains(name) => "pump",
            _ => "actor",
        };
    }

    private static string State(string relative, int depth, SnapshotParts parts)
    {
        switch (Kind(relative, depth))
        {
            case "container":
                {
                    var init = parts.Descriptions.FirstOrDefault(d => Parent(d.Key) == relative && d.Value.ExecId.Length == 0).Value;
                    return init is not null && parts.Views.TryGetValue(Key(init.ContainerId, ""), out var view)
                        ? $"container {init.ContainerId}: {Status(view)}"
                        : "container";
                }
            case "process":
                {
                    if (!parts.Descriptions.TryGetValue(relative, out var d))
                        return "process";
                    var label = d.ExecId.Length == 0 ? "init" : $"exec {d.ExecId}";
                    var state = parts.Views.TryGetValue(Key(d.ContainerId, d.ExecId), out var view) ? Status(view) : $"pid {d.Pid}";
                    return d.Undrained.Count > 0 && view?.Status == ProcessStatus.Running
                        ? $"{label}: {state}, {string.Join(" and ", d.Undrained)} not yet drained"
                        : $"{label}: {state}";
                }
            case "pump":
                {
                    var name = relative[(relative.LastIndexOf('/') + 1)..];
                    if (!parts.Descriptions.TryGetValue(Parent(relative), out var d)
                        || !parts.Views.TryGetValue(Key(d.ContainerId, d.ExecId), out var view))
                    {
                        return name;
                    }

                    return name switch
                    {
                        "stdin" => $"{view.Stdio.Stdin} -> guest stdin",
                        "stdout" => $"guest stdout -> {view.Stdio.Stdout}",
                        _ => $"guest stderr -> {view.Stdio.Stderr}",
                    };
                }
            default:
                return "";
        }
    }

    private static string Status(ProcessView view) => view.Status == ProcessStatus.Stopped
        ? $"{view.Status}, exit {view.ExitStatus}, pid {view.Pid}"
        : $"{view.Status}, pid {view.Pid}";

    private static string Parent(string relative) => relative.LastIndexOf('/') is var slash and >= 0 ? relative[..slash] : "";
}
