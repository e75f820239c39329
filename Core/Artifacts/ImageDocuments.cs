using System.Text.Json;

namespace WasmKata.Core.Artifacts;

/// <summary>A content descriptor: what an image's target, an index entry or a manifest's layer points at.</summary>
/// <param name="MediaType">What the blob is.</param>
/// <param name="Digest">Its content address, e.g. <c>sha256:...</c>.</param>
/// <param name="Size">Its length in bytes.</param>
/// <param name="Title">Its <c>org.opencontainers.image.title</c> annotation (a layer's file name), or null.</param>
public sealed record BlobRef(string MediaType, string Digest, long Size, string? Title = null);

/// <summary>
/// Reads the JSON documents between an image's name and its wasm layer (index, manifest), and picks the layer to run:
/// pure functions of the bytes, so every rule has a plain unit spec. Only the fields used are read.
/// </summary>
public static class ImageDocuments
{
    /// <summary>
    /// The manifest of an index to follow: the first entry whose platform architecture is <c>wasm</c> (in index
    /// order), else the only entry. An index of several non-wasm images is refused: none of them is an artifact.
    /// </summary>
    public static BlobRef ChooseManifest(ReadOnlySpan<byte> indexJson, string image)
    {
        using var doc = Parse(indexJson, image, "index");
        if (!doc.RootElement.TryGetProperty("manifests", out var manifests) || manifests.ValueKind != JsonValueKind.Array)
            throw new ArtifactException(FailureCode.InvalidArgument, $"image {image}: its index has no manifests list");
        var entries = new List<(BlobRef Ref, string Platform)>();
        foreach (var entry in manifests.EnumerateArray())
        {
            var platform = entry.TryGetProperty("platform", out var p) && p.ValueKind == JsonValueKind.Object
                ? $"{Text(p, "os")}/{Text(p, "architecture")}"
                : "(no platform)";
            entries.Add((Descriptor(entry, image), platform));
        }
        var wasm = entries.FirstOrDefault(e => e.Platform.EndsWith("/wasm", StringComparison.Ordinal));
        if (wasm.Ref is not null)
            return wasm.Ref;
        if (entries.Count == 1)
            return entries[0].Ref;
        throw new ArtifactException(FailureCode.NotFound,
            $"image {image}: its index has no wasm manifest (platforms: {string.Join(", ", entries.Select(e => e.Platform))})");
    }

    /// <summary>The layers of a manifest, in order.</summary>
    public static IReadOnlyList<BlobRef> ManifestLayers(ReadOnlySpan<byte> manifestJson, string image)
    {
        using var doc = Parse(manifestJson, image, "manifest");
        if (!doc.RootElement.TryGetProperty("layers", out var layers) || layers.ValueKind != JsonValueKind.Array)
            return [];
        return [.. layers.EnumerateArray().Select(l => Descriptor(l, image))];
    }

    /// <summary>
    /// The wasm layer to run. One wasm layer: that one, whatever <paramref name="arg0"/> says (argv[0] is only the
    /// guest's program name). Several: the one whose title annotation is <paramref name="arg0"/>'s file name, else
    /// refused, naming them, rather than guessing (runwasi links several layers; this shim runs one module).
    /// </summary>
    public static BlobRef ChooseWasmLayer(IReadOnlyList<BlobRef> layers, string? arg0, string image)
    {
        ArgumentNullException.ThrowIfNull(layers);
        var wasm = layers.Where(l => WasmMediaTypes.IsWasmLayer(l.MediaType)).ToList();
        if (wasm.Count == 1)
            return wasm[0];
        if (wasm.Count == 0)
        {
            var kinds = layers.Count == 0 ? "none" : string.Join(", ", layers.Select(l => l.MediaType).Distinct());
            throw new ArtifactException(FailureCode.NotFound,
                $"image {image} has no wasm layer (its layers: {kinds}; wasm layers are {string.Join(", ", WasmMediaTypes.Layers)})");
        }
        var name = string.IsNullOrEmpty(arg0) ? null : Path.GetFileName(arg0);
        var named = wasm.Where(l => name is not null && l.Title == name).ToList();
        if (named.Count == 1)
            return named[0];
        var titles = string.Join(", ", wasm.Select(l => l.Title is null ? l.Digest : $"\"{l.Title}\""));
        throw new ArtifactException(FailureCode.InvalidArgument,
            $"image {image} has {wasm.Count} wasm layers ({titles}) and process.args[0] (\"{arg0}\") names none of them by its " +
            $"{WasmMediaTypes.TitleAnnotation} annotation: this shim runs one wasm layer per container");
    }

    private static JsonDocument Parse(ReadOnlySpan<byte> json, string image, string what)
    {
        try
        {
            var reader = new Utf8JsonReader(json);
            return JsonDocument.ParseValue(ref reader);
        }
        catch (JsonException e)
        {
            throw new ArtifactException(FailureCode.InvalidArgument, $"image {image}: its {what} is not valid JSON: {e.Message}");
        }
    }

    private static BlobRef Descriptor(JsonElement element, string image)
    {
        if (element.ValueKind != JsonValueKind.Object)
            throw new ArtifactException(FailureCode.InvalidArgument, $"image {image}: a descriptor is not a JSON object");
        var digest = Text(element, "digest");
        if (digest.Length == 0)
            throw new ArtifactException(FailureCode.InvalidArgument, $"image {image}: a descriptor has no digest");
        var size = element.TryGetProperty("size", out var s) && s.TryGetInt64(out var n) ? n : -1;
        string? title = null;
        if (element.TryGetProperty("annotations", out var annotations) && annotations.ValueKind == JsonValueKind.Object
            && annotations.TryGetProperty(WasmMediaTypes.TitleAnnotation, out var t) && t.ValueKind == JsonValueKind.String)
        {
            title = t.GetString();
        }

        return new BlobRef(Text(element, "mediaType"), digest, size, title);
    }

    private static string Text(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() ?? "" : "";
}

/// <summary>Why an image's wasm layer cannot be run, with the code Create reports.</summary>
public sealed class ArtifactException(FailureCode code, string message, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>How the failure maps to the wire.</summary>
    public FailureCode Code { get; } = code;
}
