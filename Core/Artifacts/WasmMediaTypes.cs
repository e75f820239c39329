namespace WasmKata.Core.Artifacts;

/// <summary>The media types that make an image a wasm OCI artifact, and those of the documents leading to its layers.</summary>
public static class WasmMediaTypes
{
    /// <summary>The CNCF TAG-Runtime wasm artifact's layer (its config is <see cref="CncfConfig"/>).</summary>
    public const string CncfLayer = "application/wasm";

    /// <summary>runwasi's <c>oci-tar-builder</c> layer (with an ordinary OCI image config, architecture <c>wasm</c>).</summary>
    public const string RunwasiComponentLayer = "application/vnd.bytecodealliance.wasm.component.layer.v0+wasm";

    /// <summary>The older wasm-to-oci layer (Krustlet's era).</summary>
    public const string WasmToOciLayer = "application/vnd.wasm.content.layer.v1+wasm";

    /// <summary>The CNCF wasm artifact's config, which <c>ctr run</c> refuses (it reads only OCI and Docker configs).</summary>
    public const string CncfConfig = "application/vnd.wasm.config.v0+json";

    /// <summary>An OCI image config.</summary>
    public const string OciConfig = "application/vnd.oci.image.config.v1+json";

    /// <summary>An OCI image manifest.</summary>
    public const string OciManifest = "application/vnd.oci.image.manifest.v1+json";

    /// <summary>An OCI image index.</summary>
    public const string OciIndex = "application/vnd.oci.image.index.v1+json";

    /// <summary>A Docker schema 2 manifest.</summary>
    public const string DockerManifest = "application/vnd.docker.distribution.manifest.v2+json";

    /// <summary>A Docker manifest list.</summary>
    public const string DockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json";

    /// <summary>The layer annotation naming the layer's file (<c>oras push</c> and our builder set it).</summary>
    public const string TitleAnnotation = "org.opencontainers.image.title";

    /// <summary>Every layer type read as a wasm module or component.</summary>
    public static readonly IReadOnlyList<string> Layers = [CncfLayer, RunwasiComponentLayer, WasmToOciLayer];

    /// <summary>Whether a layer of this media type holds a wasm binary.</summary>
    public static bool IsWasmLayer(string mediaType) => Layers.Contains(mediaType, StringComparer.Ordinal);

    /// <summary>Whether a descriptor of this media type is an index (a list of manifests).</summary>
    public static bool IsIndex(string mediaType) => mediaType is OciIndex or DockerManifestList;

    /// <summary>Whether a descriptor of this media type is a single image manifest.</summary>
    public static bool IsManifest(string mediaType) => mediaType is OciManifest or DockerManifest;
}
