namespace WasmKata.Core.Artifacts;

/// <summary>
/// What the artifact reader needs of containerd: a container's image, an image's target and blobs of the content
/// store. <see cref="ContainerdContentSource"/> asks containerd over gRPC; specs give a dictionary.
/// </summary>
public interface IContentSource
{
    /// <summary>Where the content comes from, for messages (e.g. containerd's socket and namespace).</summary>
    string Describe { get; }

    /// <summary>The image reference the container was made from; empty when it names none (as CRI's containers).</summary>
    Task<string> ContainerImageAsync(string containerId, CancellationToken cancel);

    /// <summary>The image's target (its manifest or index); null when there is no such image.</summary>
    Task<BlobRef?> ImageTargetAsync(string name, CancellationToken cancel);

    /// <summary>Writes the blob's bytes to <paramref name="destination"/> in order; at most <paramref name="maxBytes"/>.</summary>
    Task ReadAsync(string digest, Stream destination, long maxBytes, CancellationToken cancel);
}
