using System.Text.Json;
using System.Text.Json.Serialization;

namespace WasmKata.Core.Oci;

/// <summary>The parts of an OCI runtime spec (<c>config.json</c>) a wasm container uses.</summary>
public sealed record OciSpec
{
    public string? OciVersion { get; init; }
    public OciProcess? Process { get; init; }
    public OciRoot? Root { get; init; }
    public string? Hostname { get; init; }
    public IReadOnlyList<OciMount>? Mounts { get; init; }
    public IReadOnlyDictionary<string, string>? Annotations { get; init; }
    public OciLinux? Linux { get; init; }
    public OciHooks? Hooks { get; init; }
}

/// <summary>The process to run: for a wasm container, <c>args[0]</c> is the module path inside the rootfs.</summary>
public sealed record OciProcess
{
    public bool Terminal { get; init; }

    /// <summary>The terminal's window at start (dockerd sets it for run and exec; ctr and CRI do not).</summary>
    public OciBox? ConsoleSize { get; init; }
    public IReadOnlyList<string>? Args { get; init; }
    public IReadOnlyList<string>? Env { get; init; }
    public string? Cwd { get; init; }
}

/// <summary>A window size in character cells (OCI <c>process.consoleSize</c>).</summary>
public sealed record OciBox
{
    public uint Height { get; init; }
    public uint Width { get; init; }
}

/// <summary>The container's root filesystem.</summary>
public sealed record OciRoot
{
    public string? Path { get; init; }
    public bool Readonly { get; init; }
}

/// <summary>An extra mount of the spec.</summary>
public sealed record OciMount
{
    public string? Destination { get; init; }
    public string? Type { get; init; }
    public string? Source { get; init; }
    public IReadOnlyList<string>? Options { get; init; }
}

/// <summary>Linux-specific settings.</summary>
public sealed record OciLinux
{
    public OciResources? Resources { get; init; }
    public string? CgroupsPath { get; init; }
    public IReadOnlyList<OciNamespace>? Namespaces { get; init; }
}

/// <summary>One of <c>linux.namespaces</c>: a type, and a path to join (empty: create).</summary>
public sealed record OciNamespace
{
    public string? Type { get; init; }
    public string? Path { get; init; }
}

/// <summary><c>linux.resources</c>, also the payload of <c>Update</c>.</summary>
public sealed record OciResources
{
    public OciMemory? Memory { get; init; }
    public OciCpu? Cpu { get; init; }
}

/// <summary><c>linux.resources.memory</c>.</summary>
public sealed record OciMemory
{
    public long? Limit { get; init; }
}

/// <summary><c>linux.resources.cpu</c>.</summary>
public sealed record OciCpu
{
    public ulong? Shares { get; init; }
    public long? Quota { get; init; }
    public ulong? Period { get; init; }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, ReadCommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true)]
[JsonSerializable(typeof(OciSpec))]
[JsonSerializable(typeof(OciProcess))]
[JsonSerializable(typeof(OciResources))]
internal sealed partial class OciJsonContext : JsonSerializerContext;

/// <summary>Reads OCI JSON documents, turning every problem into one clear message.</summary>
public static class OciJson
{
    /// <summary>Where a bundle's spec is: <c>bundle/config.json</c>.</summary>
    public static string SpecPath(string bundle) => System.IO.Path.Combine(bundle, "config.json");

    /// <summary>Reads <c>bundle/config.json</c>, hooks included (checked by <see cref="WasmKata.Core.Hooks.HookSpec.Check"/>).</summary>
    public static OciSpec ReadSpec(string bundle)
    {
        var path = SpecPath(bundle);
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            throw new OciSpecException($"cannot read {path.Replace("\0", "\\0")}: {e.Message}", e);
        }
        return Parse(text, OciJsonContext.Default.OciSpec, path);
    }

    /// <summary>Reads an exec's process spec (JSON of an OCI <c>Process</c>).</summary>
    public static OciProcess ParseProcess(string json) => Parse(json, OciJsonContext.Default.OciProcess, "exec process spec");

    /// <summary>Reads a <c>LinuxResources</c> document (Update).</summary>
    public static OciResources ParseResources(string json) => Parse(json, OciJsonContext.Default.OciResources, "resources");

    private static T Parse<T>(string text, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> info, string what)
    {
        try
        {
            return JsonSerializer.Deserialize(text, info) ?? throw new OciSpecException($"{what}: document is null");
        }
        catch (JsonException e)
        {
            throw new OciSpecException($"{what} is not valid OCI JSON: {e.Message}", e);
        }
    }
}

/// <summary>A spec that cannot be read or makes no sense for a wasm container.</summary>
public sealed class OciSpecException(string message, Exception? inner = null) : Exception(message, inner);
