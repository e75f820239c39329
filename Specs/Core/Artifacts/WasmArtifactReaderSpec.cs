using System.Security.Cryptography;
using System.Text;
using WasmKata.Core;
using WasmKata.Core.Artifacts;
using Xunit;

namespace WasmKata.Specs.Core.Artifacts;

/// <summary>
/// The walk from a container to its wasm layer's file, over a content store held in a dictionary (the end-to-end specs
/// walk containerd's own), and what an unreachable containerd gives.
/// </summary>
public sealed class WasmArtifactReaderSpec : IDisposable
{
    private static readonly byte[] Module = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
    private readonly string _dir = Directory.CreateTempSubdirectory("wk-artifact-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task A_containers_image_must_lead_through_index_and_manifest_to_its_layer_in_a_file()
    {
        var store = new Store();
        var layer = store.Add(Module);
        var manifest = store.Add($$"""{"layers":[{"mediaType":"application/wasm","digest":"{{layer}}","size":{{Module.Length}}}]}""");
        var index = store.Add($$$"""{"manifests":[{"mediaType":"{{{WasmMediaTypes.OciManifest}}}","digest":"{{{manifest}}}","size":1,"platform":{"os":"wasip1","architecture":"wasm"}}]}""");
        store.Images["localhost/app:1"] = new BlobRef(WasmMediaTypes.OciIndex, index, 1);
        store.Containers["c1"] = "localhost/app:1";

        var artifact = await WasmArtifactReader.ReadAsync(store, new ArtifactRequest("c1", null, "app.wasm", _dir));

        Assert.Equal(("localhost/app:1", layer), (artifact.Image, artifact.Layer.Digest));
        Assert.Equal(Module, await File.ReadAllBytesAsync(artifact.ModulePath));
        Assert.Equal(_dir, Path.GetDirectoryName(artifact.ModulePath));
    }

    [Fact]
    public async Task A_container_without_an_image_must_use_the_image_CRI_names_in_its_annotation()
    {
        var store = new Store();
        var layer = store.Add(Module);
        var manifest = store.Add($$"""{"layers":[{"mediaType":"{{WasmMediaTypes.RunwasiComponentLayer}}","digest":"{{layer}}","size":{{Module.Length}}}]}""");
        store.Images["localhost/cri:1"] = new BlobRef(WasmMediaTypes.OciManifest, manifest, 1);
        store.Containers["c1"] = "";

        var artifact = await WasmArtifactReader.ReadAsync(store, new ArtifactRequest("c1", "localhost/cri:1", "x", _dir));

        Assert.Equal("localhost/cri:1", artifact.Image);
    }

    [Fact]
    public async Task An_image_containerd_does_not_know_must_be_not_found_naming_it()
    {
        var store = new Store();
        store.Containers["c1"] = "localhost/gone:1";

        var e = await Assert.ThrowsAsync<ArtifactException>(() => WasmArtifactReader.ReadAsync(store, new ArtifactRequest("c1", null, "x", _dir)));

        Assert.Equal(FailureCode.NotFound, e.Code);
        Assert.Contains("image localhost/gone:1 not found in the dictionary", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_layer_whose_bytes_do_not_match_its_digest_must_be_refused_and_leave_no_file()
    {
        var store = new Store();
        var layer = store.Add(Module);
        store.Blobs[layer] = [.. Module, 0x00];
        var manifest = store.Add($$"""{"layers":[{"mediaType":"application/wasm","digest":"{{layer}}","size":{{Module.Length + 1}}}]}""");
        store.Images["localhost/bad:1"] = new BlobRef(WasmMediaTypes.OciManifest, manifest, 1);
        store.Containers["c1"] = "localhost/bad:1";

        var e = await Assert.ThrowsAsync<ArtifactException>(() => WasmArtifactReader.ReadAsync(store, new ArtifactRequest("c1", null, "x", _dir)));

        Assert.Equal(FailureCode.InvalidArgument, e.Code);
        Assert.Contains("its content's digest is", e.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFileSystemEntries(_dir));
    }

    [Fact]
    public async Task A_containerd_socket_nobody_listens_on_must_be_unavailable_naming_the_socket()
    {
        var socket = Path.Combine(_dir, "containerd.sock");
        using var source = new ContainerdContentSource(socket, "ns1");

        var e = await Assert.ThrowsAsync<ArtifactException>(() => WasmArtifactReader.ReadAsync(source, new ArtifactRequest("c1", null, "x", _dir)));

        Assert.Equal(FailureCode.Unavailable, e.Code);
        Assert.Contains($"containerd at {socket} (namespace ns1)", e.Message, StringComparison.Ordinal);
    }

    /// <summary>A content store in dictionaries.</summary>
    private sealed class Store : IContentSource
    {
        public Dictionary<string, string> Containers { get; } = [];

        public Dictionary<string, BlobRef> Images { get; } = [];

        public Dictionary<string, byte[]> Blobs { get; } = [];

        public string Describe => "the dictionary";

        public string Add(string json) => Add(Encoding.UTF8.GetBytes(json));

        public string Add(byte[] bytes)
        {
            var digest = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(bytes));
            Blobs[digest] = bytes;
            return digest;
        }

        public Task<string> ContainerImageAsync(string containerId, CancellationToken cancel) => Task.FromResult(Containers[containerId]);

        public Task<BlobRef?> ImageTargetAsync(string name, CancellationToken cancel) => Task.FromResult(Images.GetValueOrDefault(name));

        public async Task ReadAsync(string digest, Stream destination, long maxBytes, CancellationToken cancel) =>
            await destination.WriteAsync(Blobs[digest], cancel);
    }
}
