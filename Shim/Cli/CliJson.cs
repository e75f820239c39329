using System.Text.Json;
using System.Text.Json.Serialization;
using WasmKata.Inspection;

namespace WasmKata.Cli;

/// <summary>`wasmkata ps --json`: every answering shim's snapshot, and the shims that did not answer.</summary>
internal sealed record PsOutput(IReadOnlyList<ShimSnapshot> Shims, IReadOnlyList<UnansweredShim> Unanswered);

/// <summary>A shim listed in the directory that did not answer.</summary>
internal sealed record UnansweredShim(int Pid, string Id, string Namespace, int Port, string Error);

/// <summary>`wasmkata inspect ID`: one container (or one of its processes) with its shim and actor subtree.</summary>
internal sealed record InspectOutput(ShimInfo Shim, ContainerInfo? Container, ProcessInfo? Process, ActorNode? Tree);

/// <summary>The CLI's JSON: the inspection records, camelCase, indented.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true)]
[JsonSerializable(typeof(PsOutput))]
[JsonSerializable(typeof(InspectOutput))]
[JsonSerializable(typeof(ShimSnapshot))]
[JsonSerializable(typeof(EventView))]
internal sealed partial class CliJson : JsonSerializerContext
{
    public static string Ps(IReadOnlyList<ShimSnapshot> snapshots, IReadOnlyList<ShimAnswer> unanswered) =>
        JsonSerializer.Serialize(
            new PsOutput(snapshots, unanswered.Select(a => new UnansweredShim(a.Entry.Pid, a.Entry.Id, a.Entry.Namespace, a.Entry.Port, a.Error ?? "")).ToList()),
            Default.PsOutput);

    public static string Inspect(InspectOutput output) => JsonSerializer.Serialize(output, Default.InspectOutput);

    public static string Snapshot(ShimSnapshot snapshot) => JsonSerializer.Serialize(snapshot, Default.ShimSnapshot);

    /// <summary>One event per line (not indented), for `events --json`.</summary>
    public static string EventLine(EventView view) =>
        JsonSerializer.Serialize(view, new CliJson(new JsonSerializerOptions(Default.Options) { WriteIndented = false }).EventView);
}
