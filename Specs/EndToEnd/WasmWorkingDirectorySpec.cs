using Xunit;

namespace WasmKata.Specs.EndToEnd;

/// <summary>
/// A working directory (an image's WORKDIR, or a volume's mount point) through a real containerd: absolute paths
/// always mean the container's own, and a wasi-libc guest reaches its working directory by PWD.
/// </summary>
[Collection(EndToEndCollection.Name)]
[Trait("Category", "EndToEnd")]
[Trait("Requires", "root")]
[Trait("Runtime", "wasmkata")]
public sealed class WasmWorkingDirectorySpec(ContainerdFixture fixture)
{
    // /counter.v tells a path resolved against "/" from one resolved against /work.
    private static readonly WasmImage Image = new("paths")
    {
        WorkingDir = "/work",
        Files = new Dictionary<string, string>
        {
            ["/work/counter.v"] = "in work\n",
            ["/share/x"] = "in share\n",
            ["/counter.v"] = "at the root\n",
        },
    };

    private Ctr Ctr => fixture.Ctr;

    [Fact]
    public async Task Absolute_paths_must_mean_the_rootfs_in_a_WORKDIR_image()
    {
        var run = await RunAsync([], "cwd", "/share/x", "/work/counter.v", "counter.v");

        Assert.True(run.ExitCode == 0, Ctr.Explain(run));
        // wasi-libc starts in "/" whatever the runtime says: a relative path before any chdir is the root's.
        Assert.True(run.StdoutText == "cwd /\n/share/x: in share\n/work/counter.v: in work\ncounter.v: at the root\n", Ctr.Explain(run));
    }

    [Fact]
    public async Task A_guest_that_changes_to_PWD_must_resolve_relative_paths_against_the_WORKDIR()
    {
        var run = await RunAsync([], "cd-pwd", "cwd", "counter.v", "../share/x", "/share/x", "/counter.v");

        Assert.True(run.ExitCode == 0, Ctr.Explain(run));
        Assert.True(run.StdoutText ==
            "cd /work\ncwd /work\ncounter.v: in work\n../share/x: in share\n/share/x: in share\n/counter.v: at the root\n", Ctr.Explain(run));
    }

    [Fact]
    public async Task A_volume_mount_point_must_serve_as_the_working_directory()
    {
        var volume = Directory.CreateDirectory(Path.Combine(fixture.RunDir, "volumes", Guid.NewGuid().ToString("N"))).FullName;
        await File.WriteAllTextAsync(Path.Combine(volume, "counter.v"), "in the volume\n");

        var run = await RunAsync(
            ["--mount", $"type=bind,src={volume},dst=/out,options=rbind:rw", "--cwd", "/out"],
            "cd-pwd", "cwd", "counter.v", "/out/counter.v", "/work/counter.v");

        Assert.True(run.ExitCode == 0, Ctr.Explain(run));
        Assert.True(run.StdoutText ==
            "cd /out\ncwd /out\ncounter.v: in the volume\n/out/counter.v: in the volume\n/work/counter.v: in work\n", Ctr.Explain(run));
    }

    private async Task<ProcessResult> RunAsync(string[] options, params string[] args)
    {
        var image = await fixture.Images.WasmAsync(Image);
        return await Ctr.RunAsync(Ctr.RunArgs(Ctr.WasmRuntime, image, ContainerdFixture.NewId("cwd"), ["--rm", .. options], ["/app.wasm", .. args]));
    }
}
