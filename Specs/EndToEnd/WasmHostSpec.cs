using System.Text.Json;
using WasmKata.Linux.Processes;
using Xunit;

namespace WasmKata.Specs.EndToEnd;

/// <summary>Host integration through real containerd: crash recovery, grouping, configuration, reconnection.</summary>
[Collection(EndToEndCollection.Name)]
[Trait("Category", "EndToEnd")]
[Trait("Requires", "root")]
[Trait("Runtime", "wasmkata")]
public sealed class WasmHostSpec(ContainerdFixture fixture)
{
    private const string StateRoot = "/run/wasmkata";
    private Ctr Ctr => fixture.Ctr;

    private string StateDir(string id) => Path.Combine(StateRoot, Ctr.Namespace, id);

    [Fact]
    public async Task Kill_9_of_the_shim_then_delete_must_leave_no_mount_state_or_shim()
    {
        var image = await fixture.Images.WasmAsync(new WasmImage("sleep"));
        var before = fixture.ShimProcesses();
        await using var container = await DetachedContainer.StartAsync(Ctr, Ctr.WasmRuntime, image, "crash", "/app.wasm", "3600");
        var shim = Assert.Single(fixture.ShimProcesses().Except(before));
        Assert.True(Directory.Exists(StateDir(container.Id)), $"no saved state at {StateDir(container.Id)}");

        Assert.True(Signals.TrySend(shim, 9));
        // containerd sees the connection drop, runs the delete action and reports the task stopped.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        string? status;
        while ((status = await Ctr.TaskStatusAsync(container.Id)) is "RUNNING" && DateTime.UtcNow < deadline)
            await Task.Delay(100);
        Assert.True(status is null or "STOPPED", $"task still {status} after the shim died\n{fixture.LogTail()}");

        var delete = await Ctr.RunAsync("task", "delete", container.Id);
        Assert.True(delete.ExitCode == 0 || delete.Stderr.Contains("not found"), Ctr.Explain(delete));
        // containerd's clean-up of a dead shim (delete action, bundle removal) runs on its own schedule.
        var bundle = fixture.BundleDir(container.Id);
        deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while ((ContainerdFixture.MountsUnder(bundle).Count > 0 || Directory.Exists(StateDir(container.Id))) && DateTime.UtcNow < deadline)
            await Task.Delay(100);
        Assert.Empty(ContainerdFixture.MountsUnder(bundle));
        Assert.False(Directory.Exists(StateDir(container.Id)), "state left behind after the crashed shim's delete");
        Assert.False(ContainerdFixture.IsRunning(shim), $"shim {shim} still runs");
    }

    [Fact]
    public async Task Oci_hooks_must_run_with_the_state_json_through_containerd()
    {
        var id = ContainerdFixture.NewId("hooks");
        // With --config, ctr takes the whole spec from the file and no image: the rootfs is a plain directory.
        var rootfs = Directory.CreateDirectory(Path.Combine(fixture.RunDir, $"{id}-rootfs")).FullName;
        await File.WriteAllBytesAsync(Path.Combine(rootfs, "app.wasm"), fixture.Images.GuestBytes("hello"));
        var created = Path.Combine(fixture.RunDir, $"{id}-createRuntime.json");
        var stopped = Path.Combine(fixture.RunDir, $"{id}-poststop.json");
        var generated = await Ctr.RunAsync("oci", "spec");
        Assert.True(generated.ExitCode == 0, Ctr.Explain(generated));
        var spec = System.Text.Json.Nodes.JsonNode.Parse(generated.StdoutText)!.AsObject();
        spec["process"]!["args"] = new System.Text.Json.Nodes.JsonArray("/app.wasm");
        spec["process"]!["terminal"] = false;
        spec["root"] = new System.Text.Json.Nodes.JsonObject { ["path"] = rootfs, ["readonly"] = false };
        System.Text.Json.Nodes.JsonArray Hook(string output) =>
            [new System.Text.Json.Nodes.JsonObject { ["path"] = "/bin/sh", ["args"] = new System.Text.Json.Nodes.JsonArray("sh", "-c", $"cat > {output}") }];
        spec["hooks"] = new System.Text.Json.Nodes.JsonObject { ["createRuntime"] = Hook(created), ["poststop"] = Hook(stopped) };
        var specPath = Path.Combine(fixture.RunDir, $"{id}-config.json");
        await File.WriteAllTextAsync(specPath, spec.ToJsonString());

        var run = await Ctr.RunAsync(["run", "--rm", "--config", specPath, "--runtime", Ctr.WasmRuntime, id]);
        Assert.True(run.ExitCode == 0 && run.StdoutText == "hello from wasm\n", Ctr.Explain(run));
        using var state = JsonDocument.Parse(await File.ReadAllTextAsync(created));
        Assert.Equal(id, state.RootElement.GetProperty("id").GetString());
        Assert.Equal("creating", state.RootElement.GetProperty("status").GetString());
        Assert.Equal(fixture.BundleDir(id), state.RootElement.GetProperty("bundle").GetString());
        Assert.True(state.RootElement.GetProperty("pid").GetInt32() > 0);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!File.Exists(stopped) && DateTime.UtcNow < deadline)
            await Task.Delay(50);
        Assert.True(File.Exists(stopped), "poststop hook did not run\n" + fixture.LogTail());
    }

    [Fact]
    public async Task Containers_with_one_sandbox_id_must_share_one_shim_until_the_last_is_deleted()
    {
        var image = await fixture.Images.WasmAsync(new WasmImage("sleep"));
        var pod = ContainerdFixture.NewId("pod");
        var before = fixture.ShimProcesses();
        var first = ContainerdFixture.NewId("pod-a");
        var second = ContainerdFixture.NewId("pod-b");
        string[] options = ["-d", "--annotation", $"io.kubernetes.cri.sandbox-id={pod}"];
        try
        {
            foreach (var id in new[] { first, second })
            {
                var run = await Ctr.RunAsync(Ctr.RunArgs(Ctr.WasmRuntime, image, id, options, "/app.wasm", "3600"));
                Assert.True(run.ExitCode == 0, Ctr.Explain(run));
                await Ctr.WaitForTaskStatusAsync(id, "RUNNING", TimeSpan.FromSeconds(10));
            }

            var shim = Assert.Single(fixture.ShimProcesses().Except(before));
            await Ctr.ForceRemoveAsync(first);
            Assert.Equal("RUNNING", await Ctr.TaskStatusAsync(second));
            Assert.True(ContainerdFixture.IsRunning(shim), "the shared shim exited while it still served a container");
            await Ctr.ForceRemoveAsync(second);
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
            while (ContainerdFixture.IsRunning(shim) && DateTime.UtcNow < deadline)
                await Task.Delay(50);
            Assert.False(ContainerdFixture.IsRunning(shim), "the shim outlived its last container");
        }
        finally
        {
            await Ctr.ForceRemoveAsync(first);
            await Ctr.ForceRemoveAsync(second);
        }
    }

    [Fact]
    public async Task A_bad_configuration_toml_must_be_refused_naming_the_key()
    {
        var image = await fixture.Images.WasmAsync(new WasmImage("hello"));
        var config = Path.Combine(fixture.RunDir, "bad-configuration.toml");
        await File.WriteAllTextAsync(config, "[runtime]\nname = \"wasm_container\"\n[wasmkata]\nlog_levle = \"debug\"\n");
        var id = ContainerdFixture.NewId("badconf");
        try
        {
            var run = await Ctr.RunAsync(Ctr.RunArgs(Ctr.WasmRuntime, image, id, ["--rm", "--runtime-config-path", config]));
            Assert.True(run.ExitCode != 0, Ctr.Explain(run));
            Assert.True(run.Stderr.Contains("log_levle") && run.Stderr.Contains(config), Ctr.Explain(run));
        }
        finally
        {
            await Ctr.ForceRemoveAsync(id);
        }
    }

    [Fact]
    public async Task A_good_configuration_toml_must_be_accepted()
    {
        var image = await fixture.Images.WasmAsync(new WasmImage("hello"));
        var config = Path.Combine(fixture.RunDir, "good-configuration.toml");
        File.Copy(Path.Combine(fixture.RepoRoot, "Config", "configuration.toml"), config, overwrite: true);
        var run = await Ctr.RunAsync(Ctr.RunArgs(Ctr.WasmRuntime, image, ContainerdFixture.NewId("goodconf"), ["--rm", "--runtime-config-path", config]));
        Assert.True(run.ExitCode == 0 && run.StdoutText == "hello from wasm\n", Ctr.Explain(run));
    }

    [Fact]
    public async Task A_restarted_containerd_must_reconnect_to_a_living_shim()
    {
        var image = await fixture.Images.WasmAsync(new WasmImage("sleep"));
        await using var container = await DetachedContainer.StartAsync(Ctr, Ctr.WasmRuntime, image, "reconnect", "/app.wasm", "3600");
        await fixture.RestartContainerdAsync();
        await Ctr.WaitForTaskStatusAsync(container.Id, "RUNNING", TimeSpan.FromSeconds(20));
        var kill = await Ctr.RunAsync("task", "kill", "-s", "SIGKILL", container.Id);
        Assert.True(kill.ExitCode == 0, Ctr.Explain(kill));
        await Ctr.WaitForTaskStatusAsync(container.Id, "STOPPED", TimeSpan.FromSeconds(10));
        var delete = await Ctr.RunAsync("task", "delete", container.Id);
        Assert.True(delete.Stderr.Contains("137") || delete.StdoutText.Contains("137"), Ctr.Explain(delete));
    }
}
