using Xunit;

namespace WasmKata.Specs.EndToEnd;

/// <summary>
/// Outgoing HTTP (wasi:http/outgoing-handler) for components through containerd and the shim: a JavaScript component
/// (out/guests/fetch.component.wasm) fetches from a server that exists only inside a network namespace the container
/// is put in; on only when the container asks with the annotation, and refused clearly otherwise.
/// </summary>
[Collection(EndToEndCollection.Name)]
[Trait("Category", "EndToEnd")]
[Trait("Requires", "root")]
[Trait("Runtime", "wasmkata")]
public sealed class WasmHttpSpec(ContainerdFixture fixture)
{
    private const string AskForHttp = "io.containerd.wasmkata.v2.outgoing-http=true";

    // The component is 13 MB of JavaScript engine: its first compile takes most of a minute on a busy machine.
    private static readonly TimeSpan RunTimeout = TimeSpan.FromMinutes(4);

    private Ctr Ctr => fixture.Ctr;

    [Fact]
    public async Task A_component_that_asks_must_fetch_from_a_server_inside_its_network_namespace_and_only_there()
    {
        await using var server = await NetnsHttpServer.StartAsync("hello from the pod's network");

        var run = await fixture.RunWasmAsync(new WasmImage("fetch.component"), "http-ok",
            options: ["--rm", "--with-ns", $"network:{server.NamespacePath}", "--annotation", AskForHttp],
            command: ["/app.wasm", server.Url], timeout: RunTimeout);

        Assert.True(run.ExitCode == 0, Ctr.Explain(run) + fixture.LogTail());
        Assert.True(run.StdoutText == "status 200: hello from the pod's network\n", Ctr.Explain(run));
        Assert.Equal(1, server.Requests);

        // The same URL from a container in a network namespace of its own (ctr's default) reaches nothing.
        var elsewhere = await fixture.RunWasmAsync(new WasmImage("fetch.component"), "http-other",
            options: ["--rm", "--annotation", AskForHttp], command: ["/app.wasm", server.Url], timeout: RunTimeout);

        Assert.True(elsewhere.ExitCode != 0, Ctr.Explain(elsewhere));
        Assert.StartsWith("fetch failed: ", elsewhere.StdoutText);
        Assert.Equal(1, server.Requests);
    }

    [Fact]
    public async Task Without_the_annotation_the_first_request_must_trap_saying_http_is_off()
    {
        await using var server = await NetnsHttpServer.StartAsync("must not be read\n");

        var run = await fixture.RunWasmAsync(new WasmImage("fetch.component"), "http-off",
            options: ["--rm", "--with-ns", $"network:{server.NamespacePath}"],
            command: ["/app.wasm", server.Url], timeout: RunTimeout);

        Assert.True(run.ExitCode == 134, Ctr.Explain(run));
        Assert.Contains("wasmkata: outgoing HTTP is off for this container (it asks with the annotation io.containerd.wasmkata.v2.outgoing-http=true)", run.Stderr);
        Assert.Equal(0, server.Requests);
    }

    [Fact]
    public async Task Asking_while_configuration_toml_turns_http_off_must_fail_the_create_naming_the_key()
    {
        var config = Path.Combine(fixture.RunDir, "http-off-configuration.toml");
        await File.WriteAllTextAsync(config, "[wasmkata.engine]\noutgoing_http = \"off\"\n");
        var image = await fixture.Images.WasmAsync(new WasmImage("fetch.component"));
        var id = ContainerdFixture.NewId("http-refused");
        try
        {
            var run = await Ctr.RunAsync(Ctr.RunArgs(Ctr.WasmRuntime, image, id,
                ["--rm", "--runtime-config-path", config, "--annotation", AskForHttp], "/app.wasm", "http://127.0.0.1:1/"));

            Assert.True(run.ExitCode != 0, Ctr.Explain(run));
            Assert.True(run.Stderr.Contains("asks for outgoing HTTP", StringComparison.Ordinal)
                && run.Stderr.Contains("[wasmkata.engine] outgoing_http", StringComparison.Ordinal), Ctr.Explain(run));
        }
        finally
        {
            await Ctr.ForceRemoveAsync(id);
        }
    }
}
