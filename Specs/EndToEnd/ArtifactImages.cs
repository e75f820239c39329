using System.Security.Cryptography;
using System.Text;
using Xunit;

namespace WasmKata.Specs.EndToEnd;

/// <summary>A wasm OCI artifact: guests from out/guests, one layer each, in the given format.</summary>
/// <param name="Guests">The guests (e.g. "hello", "args.component"), each a layer titled NAME.wasm, in order.</param>
public sealed record WasmArtifact(params string[] Guests)
{
    /// <summary>wasm-artifact.sh's --format: oci (what ctr run takes), cncf or wasm-to-oci.</summary>
    public string Format { get; init; } = "oci";

    /// <summary>The config's Env (oci format only).</summary>
    public IReadOnlyList<string> Env { get; init; } = [];

    internal string Key => string.Join('\n', [Format, .. Guests, .. Env.Select(e => "env " + e)]);
}

/// <summary>
/// Builds artifact images with Specs/EndToEnd/wasm-artifact.sh and imports them with <paramref name="ctr"/> (extra
/// import options before the archive); each distinct image is built and imported once per fixture.
/// </summary>
public sealed class ArtifactImages(ContainerdFixture fixture, Ctr ctr, IReadOnlyList<string> importOptions)
{
    private readonly Dictionary<string, Task<string>> _built = new();
    private readonly Lock _gate = new();

    /// <summary>The name of the imported image.</summary>
    public Task<string> ImportAsync(WasmArtifact artifact)
    {
        lock (_gate)
        {
            if (!_built.TryGetValue(artifact.Key, out var task) || task.IsFaulted)
                _built[artifact.Key] = task = BuildAsync(artifact);
            return task;
        }
    }

    /// <summary>The digest (sha256 hex) a guest's layer has: the hash of its bytes.</summary>
    public string LayerDigest(string guest) => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(GuestPath(guest))));

    private string GuestPath(string guest)
    {
        var path = Path.Combine(fixture.GuestsDir, guest + ".wasm");
        return File.Exists(path) ? path : throw new FileNotFoundException($"guest {path} is missing: run ./build.sh first", path);
    }

    private async Task<string> BuildAsync(WasmArtifact artifact)
    {
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(artifact.Key)))[..12];
        var name = $"localhost/wasmkata-e2e/artifact-{artifact.Guests[0].Replace('.', '-')}:{hash}";
        var dir = Path.Combine(fixture.RunDir, "artifacts", hash);
        Directory.CreateDirectory(dir);
        // Each layer is titled by its file name: copy the guests under the names the image should show.
        var files = artifact.Guests.Select(g =>
        {
            var file = Path.Combine(dir, g + ".wasm");
            File.Copy(GuestPath(g), file, overwrite: true);
            return file;
        }).ToList();
        var tar = Path.Combine(dir, "image.tar");
        var build = await ChildProcess.RunAsync(
            "bash",
            [fixture.ScriptPath("wasm-artifact.sh"), "--format", artifact.Format, .. artifact.Env.SelectMany(e => new[] { "--env", e }), name, tar, .. files],
            TimeSpan.FromSeconds(60));
        Assert.True(build.ExitCode == 0, "wasm-artifact.sh failed: " + build.Describe());
        var import = await ctr.RunAsync(["images", "import", "--snapshotter", "native", .. importOptions, tar], timeout: TimeSpan.FromSeconds(60));
        Assert.True(import.ExitCode == 0, "artifact import failed: " + ctr.Explain(import));
        return name;
    }
}
