using WasmKata.Specs.Linux;
using Xunit;

namespace WasmKata.Specs.EndToEnd.GuestHost;

/// <summary>
/// The daemon runs wasmkata-guest-host from beside its own executable, never from PATH or out/bin: a shim installed in
/// a directory of its own (containerd runs it by absolute path) uses the guest host there, and one installed alone
/// fails Create of a process-isolated container with a message that names the missing file.
/// </summary>
[Collection(EndToEndCollection.Name)]
[Trait("Category", "EndToEnd")]
[Trait("Requires", "root")]
[Trait("Runtime", "wasmkata")]
public sealed class GuestHostProgramSpec : IDisposable
{
    private readonly ContainerdFixture _fixture;
    private readonly TempDirectory _temp = new();
    private readonly string _config;

    public GuestHostProgramSpec(ContainerdFixture fixture)
    {
        _fixture = fixture;
        _config = _temp.Sub("process.toml");
        File.WriteAllText(_config, "[wasmkata]\nguest_isolation = \"process\"\nguest_host_seccomp = \"kill\"\n");
    }

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task A_shim_without_the_guest_host_beside_it_must_fail_create_naming_it()
    {
        var shim = InstallShim("alone", withGuestHost: false);

        var run = await RunHelloAsync(shim, "ghp-alone");

        var missing = Path.Combine(Path.GetDirectoryName(shim)!, "wasmkata-guest-host");
        Assert.True(run.ExitCode != 0, _fixture.Ctr.Explain(run));
        Assert.True(run.Stderr.Contains($"{missing} is missing", StringComparison.Ordinal), _fixture.Ctr.Explain(run));
    }

    [Fact]
    public async Task A_shim_with_the_guest_host_beside_it_must_run_hello()
    {
        var shim = InstallShim("together", withGuestHost: true);

        var run = await RunHelloAsync(shim, "ghp-together");

        Assert.True(run.ExitCode == 0, _fixture.Ctr.Explain(run));
        Assert.True(run.StdoutText == "hello from wasm\n", _fixture.Ctr.Explain(run));
    }

    // A copy of out/bin's shim (and the Wasmtime library it loads) in a directory of its own.
    private string InstallShim(string name, bool withGuestHost)
    {
        var dir = _temp.CreateSub(name);
        var files = withGuestHost
            ? new[] { "containerd-shim-wasmkata-v2", "libwasmtime.so", "wasmkata-guest-host" }
            : new[] { "containerd-shim-wasmkata-v2", "libwasmtime.so" };
        foreach (var file in files)
            File.Copy(Path.Combine(_fixture.ShimDir, file), Path.Combine(dir, file));
        return Path.Combine(dir, "containerd-shim-wasmkata-v2");
    }

    private async Task<ProcessResult> RunHelloAsync(string shim, string prefix)
    {
        var image = await _fixture.Images.WasmAsync(new WasmImage("hello"));
        return await _fixture.Ctr.RunAsync(
            Ctr.RunArgs(shim, image, ContainerdFixture.NewId(prefix), ["--rm", "--runtime-config-path", _config]));
    }
}
