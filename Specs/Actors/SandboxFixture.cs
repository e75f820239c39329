using System.Collections.Concurrent;
using System.Text.Json;
using WasmKata.Actors.Events;

namespace WasmKata.Specs.Actors;

/// <summary>A bundle on disk as containerd lays it out: config.json and a rootfs holding the module.</summary>
internal sealed class TestBundle : IDisposable
{
    public TestBundle(string wat, string[]? args = null, string[]? env = null, long? memoryLimit = null, string? hostname = null, string[]? namespaces = null)
    {
        Path = Directory.CreateTempSubdirectory("wk-bundle-").FullName;
        Rootfs = System.IO.Path.Combine(Path, "rootfs");
        Directory.CreateDirectory(Rootfs);
        File.WriteAllBytes(System.IO.Path.Combine(Rootfs, "app.wasm"), Wasmtime.Module.ConvertText(wat));
        var spec = new
        {
            ociVersion = "1.0.2",
            process = new { args = args ?? ["/app.wasm"], env = env ?? ["PATH=/bin"], cwd = "/" },
            root = new { path = "rootfs" },
            hostname,
            linux = new
            {
                resources = new { memory = new { limit = memoryLimit } },
                namespaces = (namespaces ?? []).Select(n => new { type = n }).ToArray(),
            },
        };
        File.WriteAllText(System.IO.Path.Combine(Path, "config.json"), JsonSerializer.Serialize(spec));
        StdoutFile = System.IO.Path.Combine(Path, "stdout.log");
    }

    public string Path { get; }

    /// <summary>Adds OCI hooks: each a /bin/sh script body, run with the state JSON on stdin.</summary>
    public void AddHooks(string kind, params string[] scripts)
    {
        var configPath = System.IO.Path.Combine(Path, "config.json");
        var config = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(configPath))!.AsObject();
        var hooks = config["hooks"]?.AsObject() ?? new System.Text.Json.Nodes.JsonObject();
        var list = new System.Text.Json.Nodes.JsonArray();
        foreach (var script in scripts)
            list.Add(new System.Text.Json.Nodes.JsonObject { ["path"] = "/bin/sh", ["args"] = new System.Text.Json.Nodes.JsonArray("sh", "-c", script), ["timeout"] = 10 });
        hooks[kind] = list;
        config["hooks"] = hooks;
        File.WriteAllText(configPath, config.ToJsonString());
    }

    public string Rootfs { get; }

    public string StdoutFile { get; }

    public string StdoutUri => "file://" + StdoutFile;

    public string Stdout => File.Exists(StdoutFile) ? File.ReadAllText(StdoutFile) : "";

    public void Dispose() => Directory.Delete(Path, recursive: true);
}

/// <summary>An event sink for specs: records what the publisher delivers, in order.</summary>
internal sealed class RecordingEventSink : IEventSink
{
    public ConcurrentQueue<ShimEvent> Events { get; } = new();

    public Task PublishAsync(ShimEvent shimEvent, CancellationToken cancellationToken)
    {
        Events.Enqueue(shimEvent);
        return Task.CompletedTask;
    }

    public IReadOnlyList<string> TopicsFor(string containerId) => Events
        .Where(e => e switch
        {
            TaskCreated c => c.ContainerId == containerId,
            TaskStarted s => s.ContainerId == containerId,
            TaskExited x => x.ContainerId == containerId,
            TaskDeleted d => d.ContainerId == containerId,
            TaskExecAdded a => a.ContainerId == containerId,
            TaskExecStarted es => es.ContainerId == containerId,
            TaskOom o => o.ContainerId == containerId,
            TaskPaused p => p.ContainerId == containerId,
            TaskResumed r => r.ContainerId == containerId,
            _ => false,
        })
        .Select(e => e.Topic).ToList();
}
