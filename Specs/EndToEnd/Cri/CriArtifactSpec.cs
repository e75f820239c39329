using Xunit;

namespace WasmKata.Specs.EndToEnd.Cri;

/// <summary>
/// A Kubernetes pod whose container image is a wasm OCI artifact, in each format wasm-artifact.sh makes: the CNCF one
/// (config application/vnd.wasm.config.v0+json, layer application/wasm), which CRI runs though `ctr run` refuses its
/// config, runwasi's and wasm-to-oci's. CRI leaves the container's image empty in containerd's record and names it in
/// the spec's annotation.
/// </summary>
[Collection(Cri17Collection.Name)]
[Trait("Category", "EndToEnd")]
[Trait("Requires", "root")]
[Trait("Runtime", "wasmkata")]
public sealed class CriArtifactOnContainerd17Spec(Cri17Fixture fixture)
{
    [Theory]
    [InlineData("cncf")]
    [InlineData("oci")]
    [InlineData("wasm-to-oci")]
    public async Task A_pods_artifact_container_must_log_its_args_and_env_and_exit_0(string format)
    {
        var image = await new ArtifactImages(fixture, fixture.Ctr, []).ImportAsync(new WasmArtifact("args.component") { Format = format });
        await using var pod = await CriPod.RunAsync(fixture, "artifact-" + format);

        // The command replaces the image's entrypoint (only the oci format has one): argv is the same in every format.
        var app = await pod.RunContainerAsync("app", image, ["x y"], customize: c =>
        {
            c.Command.Add("app.wasm");
            c.Envs.Add(new V1.KeyValue { Key = "K", Value = "V" });
        });
        var status = await pod.WaitForStateAsync(app, V1.ContainerState.ContainerExited, TimeSpan.FromSeconds(30));

        Assert.Equal(0, status.ExitCode);
        // argv exactly; the environment is CRI's (its defaults, then the container's).
        var log = (await pod.WaitForLogAsync("app", 3)).Select(l => l.Content).ToList();
        Assert.Equal(["app.wasm", "x y"], log.Take(2));
        Assert.Contains("K=V", log.Skip(2));
    }
}
