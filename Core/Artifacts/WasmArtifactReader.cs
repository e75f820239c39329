using System.Security.Cryptography;
using Grpc.Core;

namespace WasmKata.Core.Artifacts;

/// <summary>What to look up: the container, the image CRI names in its spec, argv[0], and where to put the layer.</summary>
/// <param name="ContainerId">The container's id in containerd.</param>
/// <param name="ImageAnnotation">The spec's <c>io.kubernetes.cri.image-name</c>: CRI leaves the container's image empty.</param>
/// <param name="Arg0">process.args[0], which picks a layer by title when there are several.</param>
/// <param name="Directory">A directory of the container's own (its bundle) to write the layer into.</param>
public sealed record ArtifactRequest(string ContainerId, string? ImageAnnotation, string? Arg0, string Directory);

/// <summary>A wasm layer read from containerd's content store into a file.</summary>
/// <param name="Image">The image's name.</param>
/// <param name="Layer">The layer's descriptor.</param>
/// <param name="ModulePath">The file holding the layer's bytes, checked against its digest.</param>
public sealed record WasmArtifact(string Image, BlobRef Layer, string ModulePath);

/// <summary>
/// Reads a container's wasm layer as runwasi does: container → its image (containers service) → the image's target
/// (images service) → index and manifest (content service) → the wasm layer, written to a file of the container's.
/// The image config is not read: the layer's media type is what makes it wasm.
/// </summary>
public static class WasmArtifactReader
{
    /// <summary>CRI's annotation naming the image of a container (containerd 1.7 and 2.x).</summary>
    public const string CriImageNameAnnotation = "io.kubernetes.cri.image-name";

    /// <summary>The most bytes read of an index or manifest.</summary>
    public const long MaxDocumentBytes = 4 << 20;

    /// <summary>The most bytes read of a wasm layer.</summary>
    public const long MaxLayerBytes = 1L << 30;

    /// <summary>How long the whole lookup may take before Create fails with Unavailable.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    /// <summary>
    /// The container's wasm layer in a file. Throws <see cref="ArtifactException"/>: NotFound for no image or no wasm
    /// layer, InvalidArgument for several layers none of which argv[0] names or a damaged blob, Unavailable when
    /// containerd cannot be asked.
    /// </summary>
    public static async Task<WasmArtifact> ReadAsync(IContentSource source, ArtifactRequest request, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(request);
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        bounded.CancelAfter(Timeout);
        try
        {
            return await ReadCoreAsync(source, request, bounded.Token);
        }
        catch (OperationCanceledException) when (!cancel.IsCancellationRequested)
        {
            throw new ArtifactException(FailureCode.Unavailable, $"reading the image of container {request.ContainerId} from {source.Describe} took longer than {Timeout.TotalSeconds} s");
        }
        catch (RpcException e) when (e.StatusCode is StatusCode.NotFound)
        {
            throw new ArtifactException(FailureCode.NotFound, $"{source.Describe}: {e.Status.Detail}", e);
        }
        catch (RpcException e)
        {
            throw new ArtifactException(FailureCode.Unavailable,
                $"cannot read the image of container {request.ContainerId} from {source.Describe}: {e.Status.StatusCode}: {e.Status.Detail}", e);
        }
        catch (Exception e) when (e is HttpRequestException or IOException && e is not ArtifactException)
        {
            throw new ArtifactException(FailureCode.Unavailable, $"cannot read the image of container {request.ContainerId} from {source.Describe}: {e.Message}", e);
        }
    }

    private static async Task<WasmArtifact> ReadCoreAsync(IContentSource source, ArtifactRequest request, CancellationToken cancel)
    {
        var image = await source.ContainerImageAsync(request.ContainerId, cancel);
        if (image.Length == 0)
            image = request.ImageAnnotation ?? "";
        if (image.Length == 0)
            throw new ArtifactException(FailureCode.NotFound, $"container {request.ContainerId} names no image in {source.Describe}");
        var target = await source.ImageTargetAsync(image, cancel)
            ?? throw new ArtifactException(FailureCode.NotFound, $"image {image} not found in {source.Describe}");

        var document = await ReadDocumentAsync(source, target.Digest, cancel);
        if (IsIndex(target.MediaType, document))
        {
            var manifest = ImageDocuments.ChooseManifest(document, image);
            document = await ReadDocumentAsync(source, manifest.Digest, cancel);
        }
        var layers = ImageDocuments.ManifestLayers(document, image);
        var layer = ImageDocuments.ChooseWasmLayer(layers, request.Arg0, image);
        var path = await ReadLayerAsync(source, layer, request.Directory, image, cancel);
        return new WasmArtifact(image, layer, path);
    }

    // A target's media type says which it is; an image without one is sniffed (an index lists "manifests").
    private static bool IsIndex(string mediaType, byte[] document) =>
        WasmMediaTypes.IsIndex(mediaType)
        || (!WasmMediaTypes.IsManifest(mediaType) && document.AsSpan().IndexOf("\"manifests\""u8) >= 0 && document.AsSpan().IndexOf("\"layers\""u8) < 0);

    private static async Task<byte[]> ReadDocumentAsync(IContentSource source, string digest, CancellationToken cancel)
    {
        using var buffer = new MemoryStream();
        await source.ReadAsync(digest, buffer, MaxDocumentBytes, cancel);
        var bytes = buffer.ToArray();
        CheckDigest(digest, SHA256.HashData(bytes), "blob");
        return bytes;
    }

    private static async Task<string> ReadLayerAsync(IContentSource source, BlobRef layer, string directory, string image, CancellationToken cancel)
    {
        var name = layer.Digest.Replace(':', '-');
        if (name.Contains('/') || name.Contains(".."))
            throw new ArtifactException(FailureCode.InvalidArgument, $"image {image}: layer digest \"{layer.Digest}\" is not a digest");
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, $"wasm-layer-{name}.wasm");
        var temp = path + ".tmp";
        try
        {
            await using (var file = new FileStream(temp, FileMode.Create, FileAccess.ReadWrite, FileShare.None))
            {
                await source.ReadAsync(layer.Digest, file, MaxLayerBytes, cancel);
                if (layer.Size >= 0 && file.Length != layer.Size)
                    throw new ArtifactException(FailureCode.InvalidArgument, $"image {image}: layer {layer.Digest} has {file.Length} bytes, its descriptor says {layer.Size}");
                file.Position = 0;
                CheckDigest(layer.Digest, await SHA256.HashDataAsync(file, cancel), $"image {image}: layer");
            }
            File.Move(temp, path, overwrite: true);
            return path;
        }
        finally
        {
            File.Delete(temp);
        }
    }

    // containerd checks digests as it stores content; checking again costs little and catches a wrong blob.
    private static void CheckDigest(string digest, byte[] sha256, string what)
    {
        if (!digest.StartsWith("sha256:", StringComparison.Ordinal))
            return;
        var actual = "sha256:" + Convert.ToHexStringLower(sha256);
        if (!string.Equals(actual, digest, StringComparison.OrdinalIgnoreCase))
            throw new ArtifactException(FailureCode.InvalidArgument, $"{what} {digest}: its content's digest is {actual}");
    }
}
