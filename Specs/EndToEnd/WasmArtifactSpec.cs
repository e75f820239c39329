using Xunit;

namespace WasmKata.Specs.EndToEnd;

/// <summary>
/// Wasm OCI artifacts (wasm layers, no rootfs) built by Specs/EndToEnd/wasm-artifact.sh, imported with
/// `ctr images import` and run with `ctr run`: the shim reads the layer from containerd's content store. containerd
/// takes such images for `ctr run` only from 1.6.25, 1.7.7 and 2.0, so this runs on trixie's 1.7 and sid's 2.x.
/// </summary>
public abstract class WasmArtifactSpec
{
    private const string Cache = "/var/cache/wasmkata/modules";
    private readonly ContainerdFixture _fixture;

    /// <param name="fixture">The containerd.</param>
    /// <param name="ctr">The ctr that imports and runs (a client of 1.7.7 or later).</param>
    /// <param name="importOptions">Options of `ctr images import` before the archive.</param>
    protected WasmArtifactSpec(ContainerdFixture fixture, Ctr ctr, IReadOnlyList<string> importOptions)
    {
        _fixture = fixture;
        Ctr = ctr;
        Artifacts = new ArtifactImages(fixture, ctr, importOptions);
    }

    private Ctr Ctr { get; }

    private ArtifactImages Artifacts { get; }

    [Fact]
    public async Task A_core_module_artifact_must_run_its_layer_and_exit_0()
    {
        var run = await RunAsync(new WasmArtifact("hello"), "art-hello");

        Assert.True(run.ExitCode == 0 && run.StdoutText == "hello from wasm\n", Ctr.Explain(run));
    }

    [Fact]
    public async Task A_component_artifact_must_get_exactly_its_args_and_env()
    {
        var artifact = new WasmArtifact("args.component") { Env = ["FROM_IMAGE=artifact"] };

        var run = await RunAsync(artifact, "art-args", ["--env", "K=V"], ["prog.wasm", "a", "b c"]);

        Assert.True(run.ExitCode == 0, Ctr.Explain(run));
        Assert.True(run.StdoutText == "prog.wasm\na\nb c\nFROM_IMAGE=artifact\nK=V\n", Ctr.Explain(run));
    }

    [Fact]
    public async Task The_image_entrypoint_must_be_argv0_when_ctr_gives_no_command()
    {
        var run = await RunAsync(new WasmArtifact("args") { Env = ["E=1"] }, "art-entry");

        Assert.True(run.ExitCode == 0 && run.StdoutText == "args.wasm\nE=1\n", Ctr.Explain(run));
    }

    [Theory]
    [InlineData("exitcode", 3)]
    // The preview-1 adapter turns exit(n != 0) into wasi:cli/exit's err, which carries no code: 1.
    [InlineData("exitcode.component", 1)]
    public async Task The_guests_exit_code_must_be_ctrs(string guest, int status)
    {
        var run = await RunAsync(new WasmArtifact(guest), "art-exit", command: ["exitcode.wasm", "3"]);

        Assert.True(run.ExitCode == status && run.StdoutText == "exiting with 3\n", Ctr.Explain(run));
    }

    [Fact]
    public async Task The_guest_must_see_an_empty_root_without_its_own_module()
    {
        var run = await RunAsync(new WasmArtifact("readfile"), "art-root", command: ["readfile.wasm", "/readfile.wasm"]);

        Assert.True(run.ExitCode == 1, Ctr.Explain(run));
        Assert.Contains("readfile: /readfile.wasm: No such file or directory", run.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Of_several_wasm_layers_argv0_must_pick_one_by_title_and_an_unnamed_one_be_refused()
    {
        var artifact = new WasmArtifact("hello", "args");

        var picked = await RunAsync(artifact, "art-two", command: ["/bin/args.wasm", "x"]);
        var refused = await RunAsync(artifact, "art-two", command: ["other.wasm"]);

        Assert.True(picked.ExitCode == 0 && picked.StdoutText.StartsWith("/bin/args.wasm\nx\n", StringComparison.Ordinal), Ctr.Explain(picked));
        Assert.True(refused.ExitCode != 0, Ctr.Explain(refused));
        Assert.Contains("has 2 wasm layers (\"hello.wasm\", \"args.wasm\")", refused.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_exec_whose_args0_is_no_file_of_the_rootfs_must_run_the_layer_again_with_its_own_args()
    {
        var image = await Artifacts.ImportAsync(new WasmArtifact("sleep"));
        await using var container = await DetachedContainer.StartAsync(Ctr, Ctr.WasmRuntime, image, "art-exec", "sleep.wasm", "3600");

        var exec = await Ctr.RunAsync("task", "exec", "--exec-id", "e1", container.Id, "again.wasm", "0");

        Assert.True(exec.ExitCode == 0 && exec.StdoutText == "sleeping\n", Ctr.Explain(exec));
        Assert.Equal("RUNNING", await Ctr.TaskStatusAsync(container.Id));
    }

    [Fact]
    public async Task A_component_artifact_must_share_the_compile_cache_entry_of_the_same_bytes()
    {
        var digest = Artifacts.LayerDigest("hello.component");

        var run = await RunAsync(new WasmArtifact("hello.component"), "art-cache");

        Assert.True(run.ExitCode == 0 && run.StdoutText == "hello from wasm\n", Ctr.Explain(run));
        // The cache is keyed by the bytes' SHA-256, which is the layer's digest: an image with the same module as a
        // file of its rootfs uses the same entry.
        var entry = Assert.Single(Directory.GetFiles(Cache, digest + "-*.cwasm"));
        Assert.Equal("WKCCOMP2", System.Text.Encoding.ASCII.GetString(File.ReadAllBytes(entry), 0, 8));
    }

    [Fact]
    public async Task An_ordinary_image_without_its_module_must_fail_naming_both_the_file_and_the_image()
    {
        var image = await _fixture.Images.WasmAsync(new WasmImage("hello"));

        // The fixture's own ctr imported it (and unpacked it), so it runs it too.
        var ctr = _fixture.Ctr;
        var run = await ctr.RunAsync(Ctr.RunArgs(Ctr.WasmRuntime, image, ContainerdFixture.NewId("art-none"), ["--rm"], "/missing.wasm"));

        Assert.True(run.ExitCode != 0, ctr.Explain(run));
        Assert.Contains("wasm module \"/missing.wasm\" not found in the container's rootfs, and no wasm layer could be read from its image", run.Stderr, StringComparison.Ordinal);
        Assert.Contains("has no wasm layer", run.Stderr, StringComparison.Ordinal);
    }

    private async Task<ProcessResult> RunAsync(WasmArtifact artifact, string prefix, IEnumerable<string>? options = null, params string[] command)
    {
        var image = await Artifacts.ImportAsync(artifact);
        return await Ctr.RunAsync(Ctr.RunArgs(Ctr.WasmRuntime, image, ContainerdFixture.NewId(prefix), ["--rm", .. options ?? []], command));
    }
}

/// <summary><see cref="WasmArtifactSpec"/> on trixie's containerd 1.7, with its own ctr.</summary>
[Collection(EndToEndCollection.Name)]
[Trait("Category", "EndToEnd")]
[Trait("Requires", "root")]
[Trait("Runtime", "wasmkata")]
public sealed class WasmArtifactOnContainerd17Spec(Containerd17Fixture fixture)
    : WasmArtifactSpec(fixture, fixture.Ctr, []), IClassFixture<Containerd17Fixture>;

/// <summary>
/// <see cref="WasmArtifactSpec"/> on sid's containerd 2.x, with sid's own ctr: Debian 12's (1.6.20) cannot unpack an
/// image without diff ids, and sid's import unpacks only for a platform it knows, so the archive is imported without
/// unpacking and `ctr run` prepares the (empty) snapshot itself.
/// </summary>
[Collection(EndToEndCollection.Name)]
[Trait("Category", "EndToEnd")]
[Trait("Requires", "root")]
[Trait("Runtime", "wasmkata")]
public sealed class WasmArtifactOnContainerd2Spec(Containerd2Fixture fixture)
    : WasmArtifactSpec(fixture, SidCtr(fixture), ["--no-unpack"]), IClassFixture<Containerd2Fixture>
{
    private static Ctr SidCtr(Containerd2Fixture fixture) =>
        new(fixture.Ctr.Address, fixture.Ctr.Namespace, () => fixture.LogTail(), Path.Combine(Containerd2Fixture.Bin, "ctr"));
}
