using System.Globalization;
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

    [Fact]
    public async Task Stage_2_of_a_running_guest_host_must_be_the_guest_host_program_not_the_shim()
    {
        var shim = InstallShim("exec", withGuestHost: true);
        var image = await _fixture.Images.WasmAsync(new WasmImage("sleep"));
        await using var container = await DetachedContainer.StartAsync(_fixture.Ctr, shim, image, "ghp-exec",
            ["--runtime-config-path", _config], "/app.wasm", "30");

        var pid = await TaskPidAsync(container.Id);

        // The task's pid is the guest host, past its exec of stage 2; its parent is the daemon, the shim's copy.
        var guestHost = Path.Combine(Path.GetDirectoryName(shim)!, "wasmkata-guest-host");
        Assert.Equal(guestHost, new FileInfo($"/proc/{pid}/exe").LinkTarget);
        var argv = File.ReadAllText($"/proc/{pid}/cmdline").Split('\0');
        Assert.Equal([guestHost, "guest-host", "-stage2"], argv.Take(3));
        var parent = File.ReadAllLines($"/proc/{pid}/status").First(l => l.StartsWith("PPid:", StringComparison.Ordinal)).Split('\t')[1];
        Assert.Equal(shim, new FileInfo($"/proc/{parent.Trim()}/exe").LinkTarget);
    }

    private async Task<int> TaskPidAsync(string id)
    {
        var ls = await _fixture.Ctr.RunAsync("task", "ls");
        var row = ls.StdoutText.Split('\n').Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)).First(r => r.Length >= 2 && r[0] == id);
        return int.Parse(row[1], CultureInfo.InvariantCulture);
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
