using System.Text.Json;
using System.Text.Json.Serialization;
using WasmKata.Linux.Io;

namespace WasmKata.Core.State;

/// <summary>
/// What must outlive the shim process to clean up after it: written at create and on every status change, read by
/// the <c>delete</c> action after a crash, removed when the container is deleted.
/// </summary>
public sealed record ContainerState
{
    public required string Id { get; init; }
    public required string Namespace { get; init; }
    public required string Bundle { get; init; }
    public required string Rootfs { get; init; }
    public bool RootfsMounted { get; init; }
    public int ShimPid { get; init; }
    public uint InitPid { get; init; }
    public string Status { get; init; } = "created";
    public uint? ExitStatus { get; init; }
    public DateTimeOffset? ExitedAt { get; init; }
    public string? Cgroup { get; init; }
    public string? CgroupDriver { get; init; }
    public string? SystemdAddress { get; init; }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ContainerState))]
internal sealed partial class StateJsonContext : JsonSerializerContext;

/// <summary>Where container state lives: <c>/run/wasmkata/&lt;namespace&gt;/&lt;id&gt;/state.json</c> (tmpfs, like runc's state).</summary>
public sealed class StateStore(string root)
{
    /// <summary>The default root, beside runc's own state under /run.</summary>
    public const string DefaultRoot = "/run/wasmkata";

    /// <summary><see cref="DefaultRoot"/>, or <c>WASMKATA_STATE_DIR</c> when set (specs use a private one).</summary>
    public static string DefaultRootPath =>
        Environment.GetEnvironmentVariable("WASMKATA_STATE_DIR") is { Length: > 0 } dir ? dir : DefaultRoot;

    /// <summary>The directory of one container's state.</summary>
    public string DirectoryOf(string ns, string id) => Path.Combine(root, ns.Length > 0 ? ns : "_", id);

    /// <summary>Replaces the container's state atomically.</summary>
    public void Save(ContainerState state) =>
        AtomicFile.Write(Path.Combine(DirectoryOf(state.Namespace, state.Id), "state.json"),
            JsonSerializer.SerializeToUtf8Bytes(state, StateJsonContext.Default.ContainerState));

    /// <summary>The saved state, or null when there is none (or it cannot be read).</summary>
    public ContainerState? Load(string ns, string id)
    {
        try
        {
            var bytes = File.ReadAllBytes(Path.Combine(DirectoryOf(ns, id), "state.json"));
            return JsonSerializer.Deserialize(bytes, StateJsonContext.Default.ContainerState);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException)
        {
            return null;
        }
    }

    /// <summary>Forgets the container; idempotent.</summary>
    public void Remove(string ns, string id)
    {
        var dir = DirectoryOf(ns, id);
        if (Directory.Exists(dir))
            Directory.Delete(dir, recursive: true);
    }
}
