using WasmKata.Specs.EndToEnd.Cri.V1;
using Xunit;

namespace WasmKata.Specs.EndToEnd.Cri;

/// <summary>WASI 0.2 components in a Kubernetes pod: a component container, ExecSync of components, StopContainer.</summary>
[Collection(CriCollection.Name)]
[Trait("Category", "EndToEnd")]
[Trait("Requires", "root")]
[Trait("Runtime", "wasmkata")]
public sealed class CriComponentSpec(CriFixture fixture)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    private CriClient Client => fixture.Client;

    [Fact]
    public async Task A_component_container_must_log_run_component_execs_and_stop_on_SIGTERM_while_it_sleeps()
    {
        var image = await fixture.Images.WasmAsync(new WasmImage("sleep.component")
        {
            Guests = new Dictionary<string, string> { ["/hello.wasm"] = "hello.component", ["/exitcode.wasm"] = "exitcode.component" },
        });
        await using var pod = await CriPod.RunAsync(fixture, "component");
        var app = await pod.RunContainerAsync("app", image, ["3600"]);
        await pod.WaitForStateAsync(app, ContainerState.ContainerRunning, Patience);
        var log = await pod.WaitForLogAsync("app", 1);
        Assert.Equal("stdout F sleeping", $"{log[0].Stream} {log[0].Tag} {log[0].Content}");

        var hello = await Client.Runtime.ExecSyncAsync(
            new ExecSyncRequest { ContainerId = app, Cmd = { "/hello.wasm" }, Timeout = 20 }, CriClient.Deadline());
        Assert.Equal((0, "hello from wasm\n"), (hello.ExitCode, hello.Stdout.ToStringUtf8()));
        var failing = await Client.Runtime.ExecSyncAsync(
            new ExecSyncRequest { ContainerId = app, Cmd = { "/exitcode.wasm", "3" }, Timeout = 20 }, CriClient.Deadline());
        Assert.Equal((1, "exiting with 3\n"), (failing.ExitCode, failing.Stdout.ToStringUtf8()));

        // The component sleeps in Wasmtime's own timer, which no signal wakes: the shim reports the SIGTERM at once.
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await Client.Runtime.StopContainerAsync(new StopContainerRequest { ContainerId = app, Timeout = 30 }, CriClient.Deadline());
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(15), $"StopContainer took {clock.Elapsed}");
        var stopped = (await pod.StatusAsync(app)).Status;
        Assert.Equal((ContainerState.ContainerExited, 143), (stopped.State, stopped.ExitCode));
    }
}
