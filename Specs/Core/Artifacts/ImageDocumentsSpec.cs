using System.Text;
using WasmKata.Core;
using WasmKata.Core.Artifacts;
using Xunit;

namespace WasmKata.Specs.Core.Artifacts;

/// <summary>From an image's index and manifest to the one wasm layer a container runs.</summary>
public sealed class ImageDocumentsSpec
{
    private const string Image = "localhost/app:1";

    private static BlobRef Layer(string mediaType, string digest, string? title = null) => new(mediaType, digest, 1, title);

    [Theory]
    [InlineData(WasmMediaTypes.CncfLayer)]
    [InlineData(WasmMediaTypes.RunwasiComponentLayer)]
    [InlineData(WasmMediaTypes.WasmToOciLayer)]
    public void The_one_wasm_layer_must_be_chosen_whatever_argv0_says(string mediaType)
    {
        var layers = new[] { Layer("application/vnd.oci.image.layer.v1.tar", "sha256:a"), Layer(mediaType, "sha256:b", "app.wasm") };

        Assert.Equal("sha256:b", ImageDocuments.ChooseWasmLayer(layers, "anything-at-all", Image).Digest);
    }

    [Fact]
    public void An_image_without_a_wasm_layer_must_be_refused_as_not_found_naming_its_layer_types()
    {
        var layers = new[] { Layer("application/vnd.oci.image.layer.v1.tar+gzip", "sha256:a") };

        var e = Assert.Throws<ArtifactException>(() => ImageDocuments.ChooseWasmLayer(layers, "/app.wasm", Image));

        Assert.Equal(FailureCode.NotFound, e.Code);
        Assert.Contains("has no wasm layer", e.Message, StringComparison.Ordinal);
        Assert.Contains("application/vnd.oci.image.layer.v1.tar+gzip", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Of_several_wasm_layers_the_one_titled_as_argv0s_file_name_must_be_chosen()
    {
        var layers = new[] { Layer(WasmMediaTypes.CncfLayer, "sha256:a", "one.wasm"), Layer(WasmMediaTypes.CncfLayer, "sha256:b", "two.wasm") };

        Assert.Equal("sha256:b", ImageDocuments.ChooseWasmLayer(layers, "/bin/two.wasm", Image).Digest);
        Assert.Equal("sha256:a", ImageDocuments.ChooseWasmLayer(layers, "one.wasm", Image).Digest);
    }

    [Fact]
    public void Several_wasm_layers_that_argv0_does_not_name_must_be_refused_naming_them()
    {
        var layers = new[] { Layer(WasmMediaTypes.CncfLayer, "sha256:a", "one.wasm"), Layer(WasmMediaTypes.CncfLayer, "sha256:b") };

        var e = Assert.Throws<ArtifactException>(() => ImageDocuments.ChooseWasmLayer(layers, "three.wasm", Image));

        Assert.Equal(FailureCode.InvalidArgument, e.Code);
        Assert.Contains("2 wasm layers (\"one.wasm\", sha256:b)", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_manifest_must_give_its_layers_in_order_with_their_titles()
    {
        var json = """
            {"schemaVersion":2,"config":{"mediaType":"application/vnd.wasm.config.v0+json","digest":"sha256:c","size":2},
             "layers":[{"mediaType":"application/wasm","digest":"sha256:1","size":10,"annotations":{"org.opencontainers.image.title":"a.wasm"}},
                       {"mediaType":"application/wasm","digest":"sha256:2","size":20}]}
            """;

        var layers = ImageDocuments.ManifestLayers(Encoding.UTF8.GetBytes(json), Image);

        Assert.Equal([new BlobRef("application/wasm", "sha256:1", 10, "a.wasm"), new BlobRef("application/wasm", "sha256:2", 20)], layers);
    }

    [Fact]
    public void An_index_must_lead_to_its_wasm_entry_else_its_only_entry_else_be_refused()
    {
        static byte[] Index(params string[] platforms) => Encoding.UTF8.GetBytes(
            "{\"manifests\":[" + string.Join(',', platforms.Select((p, i) =>
                $"{{\"mediaType\":\"{WasmMediaTypes.OciManifest}\",\"digest\":\"sha256:{i}\",\"size\":1" +
                (p.Length == 0 ? "" : $",\"platform\":{{\"os\":\"{p.Split('/')[0]}\",\"architecture\":\"{p.Split('/')[1]}\"}}") + "}")) + "]}");

        Assert.Equal("sha256:1", ImageDocuments.ChooseManifest(Index("linux/amd64", "wasip1/wasm", "wasip2/wasm"), Image).Digest);
        Assert.Equal("sha256:0", ImageDocuments.ChooseManifest(Index(""), Image).Digest);
        var e = Assert.Throws<ArtifactException>(() => ImageDocuments.ChooseManifest(Index("linux/amd64", "linux/arm64"), Image));
        Assert.Equal(FailureCode.NotFound, e.Code);
        Assert.Contains("linux/amd64, linux/arm64", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_document_that_is_not_json_must_be_refused_as_invalid()
    {
        var e = Assert.Throws<ArtifactException>(() => ImageDocuments.ManifestLayers("{not json"u8.ToArray(), Image));

        Assert.Equal(FailureCode.InvalidArgument, e.Code);
        Assert.Contains("manifest is not valid JSON", e.Message, StringComparison.Ordinal);
    }
}
