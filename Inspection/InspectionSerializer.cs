using System.Runtime.Serialization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Akka.Actor;
using Akka.Serialization;

namespace WasmKata.Inspection;

/// <summary>
/// JSON for the <see cref="InspectionWire"/> messages, by a closed list of manifests: a peer can make it build
/// only these records, never a type named on the wire.
/// </summary>
public sealed class InspectionSerializer(ExtendedActorSystem system) : SerializerWithStringManifest(system)
{
    /// <summary>The serializer id (ids up to 100 are Akka's own).</summary>
    public const int Id = 7341;

    /// <summary>
    /// HOCON that registers this serializer for every <see cref="IInspectionWire"/> message, naming the types with
    /// their real assemblies: a NativeAOT build resolves no other spelling.
    /// </summary>
    public static string Hocon { get; } = $"""
        akka.actor.serializers.wasmkata-inspection = "{Named(typeof(InspectionSerializer))}"
        akka.actor.serialization-bindings."{Named(typeof(IInspectionWire))}" = wasmkata-inspection
        """;

    private static readonly Dictionary<string, Type> s_types = new()
    {
        ["inspect"] = typeof(InspectionWire.Inspect),
        ["inspect-reply"] = typeof(InspectionWire.InspectReply),
        ["subscribe"] = typeof(InspectionWire.SubscribeEvents),
        ["subscribed"] = typeof(InspectionWire.Subscribed),
        ["unsubscribe"] = typeof(InspectionWire.UnsubscribeEvents),
        ["event"] = typeof(InspectionWire.Event),
        ["denied"] = typeof(InspectionWire.Denied),
    };

    private static readonly Dictionary<Type, string> s_manifests = s_types.ToDictionary(p => p.Value, p => p.Key);

    /// <inheritdoc/>
    public override int Identifier => Id;

    /// <inheritdoc/>
    public override string Manifest(object o) => s_manifests.TryGetValue(o.GetType(), out var manifest)
        ? manifest
        : throw new ArgumentException($"{o.GetType()} is not an inspection wire message", nameof(o));

    /// <inheritdoc/>
    public override byte[] ToBinary(object obj) =>
        JsonSerializer.SerializeToUtf8Bytes(obj, InspectionJson.Default.GetTypeInfo(obj.GetType())
            ?? throw new ArgumentException($"{obj.GetType()} is not an inspection wire message", nameof(obj)));

    /// <inheritdoc/>
    public override object FromBinary(byte[] bytes, string manifest)
    {
        if (!s_types.TryGetValue(manifest, out var type))
            throw new SerializationException($"unknown inspection manifest \"{manifest}\"");
        return JsonSerializer.Deserialize(bytes, InspectionJson.Default.GetTypeInfo(type)!)
            ?? throw new SerializationException($"empty inspection message \"{manifest}\"");
    }

    private static string Named(Type type) => $"{type.FullName}, {type.Assembly.GetName().Name}";
}

/// <summary>The JSON shapes of the inspection records, for the wire and for <c>wasmkata --json</c>.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(InspectionWire.Inspect))]
[JsonSerializable(typeof(InspectionWire.InspectReply))]
[JsonSerializable(typeof(InspectionWire.SubscribeEvents))]
[JsonSerializable(typeof(InspectionWire.Subscribed))]
[JsonSerializable(typeof(InspectionWire.UnsubscribeEvents))]
[JsonSerializable(typeof(InspectionWire.Event))]
[JsonSerializable(typeof(InspectionWire.Denied))]
[JsonSerializable(typeof(ShimSnapshot))]
[JsonSerializable(typeof(ContainerInfo))]
[JsonSerializable(typeof(ProcessInfo))]
[JsonSerializable(typeof(ActorNode))]
[JsonSerializable(typeof(EventView))]
public sealed partial class InspectionJson : JsonSerializerContext;
