using Xunit;

namespace WasmKata.Specs.EndToEnd;

/// <summary>`ctr task kill -s SIGKILL` ends a guest at once, whether it computes or waits in the host.</summary>
[Collection(EndToEndCollection.Name)]
[Trait("Category", "EndToEnd")]
[Trait("Requires", "root")]
[Trait("Runtime", "wasmkata")]
public class WasmKillSpec(ContainerdFixture fixture)
{
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(2);

    private Ctr Ctr => fixture.Ctr;

    [Fact]
    public async Task Kill_must_report_exit_137_within_2_seconds_when_guest_is_spinning()
    {
        var image = await fixture.Images.WasmAsync(new WasmImage("spin"));

        var killed = await Killing.KillForegroundRunAsync(fixture, Ctr.WasmRuntime, image, "spinning", "/app.wasm");

        AssertKilledInTime(killed);
    }

    [Fact]
    public async Task Kill_must_report_exit_137_within_2_seconds_when_guest_is_sleeping_in_the_host()
    {
        var image = await fixture.Images.WasmAsync(new WasmImage("sleep"));

        var killed = await Killing.KillForegroundRunAsync(
            fixture, Ctr.WasmRuntime, image, "sleeping", "/app.wasm", "3600");

        AssertKilledInTime(killed);
    }

    private void AssertKilledInTime(KilledRun killed)
    {
        Assert.True(killed.Run.ExitCode == 137, Ctr.Explain(killed.Run));
        Assert.True(killed.KillToExit < Budget,
            $"from `ctr task kill` to ctr's exit took {killed.KillToExit.TotalMilliseconds:F0} ms\n" +
            Ctr.Explain(killed.Run));
    }
}
