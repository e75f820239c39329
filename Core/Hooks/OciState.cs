using System.Text.Json;
using System.Text.Json.Serialization;

namespace WasmKata.Core.Hooks;

/// <summary>The <c>status</c> of an OCI state document.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<OciStatus>))]
public enum OciStatus
{
    [JsonStringEnumMemberName("creating")]
    Creating,

    [JsonStringEnumMemberName("created")]
    Created,

    [JsonStringEnumMemberName("running")]
    Running,

    [JsonStringEnumMemberName("stopped")]
    Stopped,
}

/// <summary>The OCI runtime spec's state of a container (runtime.md "State"): what hooks receive on stdin.</summary>
public sealed record OciState
{
    /// <summary>The runtime-spec version whose hook semantics this shim implements.</summary>
    public const string SpecVersion = "1.2.1";

    public string OciVersion { get; init; } = SpecVersion;

    public required string Id { get; init; }

    public required OciStatus Status { get; init; }

    /// <summary>Required for created and running on Linux; left out of the JSON when 0.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public int Pid { get; init; }

    /// <summary>Absolute path of the bundle directory.</summary>
    public required string Bundle { get; init; }

    /// <summary>The spec's annotations; left out when null.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyDictionary<string, string>? Annotations { get; init; }

    /// <summary>The state document as compact UTF-8 JSON.</summary>
    public byte[] ToJsonBytes() => JsonSerializer.SerializeToUtf8Bytes(this, OciStateJsonContext.Default.OciState);

    /// <summary>The state document as JSON text.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, OciStateJsonContext.Default.OciState);

    /// <summary>Reads a state document (e.g. the one a hook received).</summary>
    public static OciState Parse(string json) =>
        JsonSerializer.Deserialize(json, OciStateJsonContext.Default.OciState) ?? throw new JsonException("state document is null");
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(OciState))]
internal sealed partial class OciStateJsonContext : JsonSerializerContext;
