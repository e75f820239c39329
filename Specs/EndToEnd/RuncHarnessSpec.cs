using System.Security.Cryptography;
using Xunit;

namespace WasmKata.Specs.EndToEnd;

/// <summary>
/// Proves the harness with runc before the wasm shim can: the private containerd, the image builder, ctr's exit
/// status, stdin and killing a foreground run all behave as the wasm specs assume.
/// </summary>
[Collection(EndToEndCollection.Name)]
[Trait("Category", "EndToEnd")]
[Trait("Requires", "root")]
[Trait("Runtime", "runc")]
public sealed class RuncHarnessSpec(ContainerdFixture fixture)
{
    private Ctr Ctr => fixture.Ctr;

    [Fact]
    public async Task Runc_must_run_busybox_echo_from_an_imported_oci_tar()
    {
        var image = await fixture.Images.BusyboxAsync();

        var run = await Ctr.RunAsync(Ctr.RunArgs(null, image, ContainerdFixture.NewId("runc-echo"), null,
            "/bin/echo", "hello", "harness"));

        Assert.True(run.ExitCode == 0, Ctr.Explain(run));
        Assert.True(run.StdoutText == "hello harness\n", Ctr.Explain(run));
    }

    [Fact]
    public async Task Runc_exit_status_must_become_ctr_exit_status()
    {
        var image = await fixture.Images.BusyboxAsync();

        var run = await Ctr.RunAsync(Ctr.RunArgs(null, image, ContainerdFixture.NewId("runc-exit"), null,
            "/bin/sh", "-c", "exit 3"));

        Assert.True(run.ExitCode == 3, Ctr.Explain(run));
    }

    // The output stays small on purpose: under CPU load, containerd 1.6's runc shim can drop the tail of a
    // large stdout when the process exits (measured here: 256 KiB through `cat` lost 4-128 KiB in ~20% of runs
    // with both cores busy). The wasm shim must not (see WasmRunSpec), but the harness check must be stable.
    [Fact]
    public async Task Runc_must_pass_stdin_intact()
    {
        var image = await fixture.Images.BusyboxAsync();
        // Larger than ctr's copy buffer plus the FIFO: ctr 1.6 drops the stdin EOF (never sends CloseIO) if its
        // input ends before the task exists, so the input must still be flowing when the task starts.
        var input = new byte[256 * 1024];
        new Random(7).NextBytes(input);

        var run = await Ctr.RunAsync(
            Ctr.RunArgs(null, image, ContainerdFixture.NewId("runc-stdin"), null, "/bin/busybox", "sha256sum"), input);

        Assert.True(run.ExitCode == 0, Ctr.Explain(run));
        Assert.True(run.StdoutText == $"{Convert.ToHexStringLower(SHA256.HashData(input))}  -\n", Ctr.Explain(run));
    }

    [Fact]
    public async Task Runc_kill_must_end_a_foreground_run_with_137()
    {
        var image = await fixture.Images.BusyboxAsync();

        var killed = await Killing.KillForegroundRunAsync(fixture, null, image, "sleeping",
            "/bin/sh", "-c", "echo sleeping; exec /bin/sleep 3600");

        Assert.True(killed.Run.ExitCode == 137, Ctr.Explain(killed.Run));
        Assert.True(killed.KillToExit < TimeSpan.FromSeconds(2),
            $"kill took {killed.KillToExit.TotalMilliseconds:F0} ms\n{Ctr.Explain(killed.Run)}");
    }
}
