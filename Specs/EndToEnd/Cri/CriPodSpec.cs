using Grpc.Core;
using WasmKata.Specs.EndToEnd.Cri.V1;
using Xunit;

namespace WasmKata.Specs.EndToEnd.Cri;

/// <summary>Kubernetes pods through containerd's CRI plugin, driven as kubelet drives them, with the wasmkata handler.</summary>
[Collection(CriCollection.Name)]
[Trait("Category", "EndToEnd")]
[Trait("Requires", "root")]
[Trait("Runtime", "wasmkata")]
public class CriPodSpec(CriFixture fixture)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    private CriClient Client => fixture.Client;

    [Fact]
    public async Task A_pod_with_two_wasm_containers_must_run_them_in_one_shim_sharing_the_pods_ipc_namespace_each_logging_to_its_cri_log()
    {
        var image = await SayImageAsync();
        var before = fixture.ShimProcesses();
        await using var pod = await CriPod.RunAsync(fixture, "two");
        var first = await pod.RunContainerAsync("first", image, ["first out", "first err", "3600"]);
        var second = await pod.RunContainerAsync("second", image, ["second out", "second err", "3600"]);

        await pod.WaitForStateAsync(first, ContainerState.ContainerRunning, Patience);
        await pod.WaitForStateAsync(second, ContainerState.ContainerRunning, Patience);
        var shim = Assert.Single(fixture.ShimProcesses().Except(before));
        var ipc = await IpcNamespaceAsync(pod, first);
        Assert.Equal(ipc, await IpcNamespaceAsync(pod, second));
        Assert.NotEqual(new FileInfo("/proc/self/ns/ipc").LinkTarget, ipc);

        foreach (var name in new[] { "first", "second" })
        {
            var lines = await pod.WaitForLogAsync(name, 2);
            Assert.Equal([$"stderr F {name} err", $"stdout F {name} out"], lines.Select(l => $"{l.Stream} {l.Tag} {l.Content}").Order());
        }
        Assert.Equal(pod.LogPathOf("first"), (await pod.StatusAsync(first)).Status.LogPath);
        Assert.True(ContainerdFixture.IsRunning(shim), $"shim {shim} exited while its pod runs");
    }

    [Fact]
    public async Task ContainerStatus_must_give_exit_code_reason_and_finished_at_and_an_exited_container_must_restart_in_the_same_shim()
    {
        var image = await SayImageAsync();
        var before = fixture.ShimProcesses();
        await using var pod = await CriPod.RunAsync(fixture, "exits");
        var startedAround = DateTimeOffset.UtcNow;
        var failing = await pod.RunContainerAsync("job", image, ["working", "giving up", "0", "3"]);

        var failed = await pod.WaitForStateAsync(failing, ContainerState.ContainerExited, Patience);
        Assert.Equal(3, failed.ExitCode);
        Assert.Equal("Error", failed.Reason);
        // finished_at is the shim's exit time; started_at is stamped by CRI once Start has returned, so a guest this
        // short may finish "before" it started. Both must be set, and finished_at no earlier than the creation.
        Assert.True(failed.StartedAt > 0 && failed.FinishedAt >= failed.CreatedAt, failed.ToString());
        var finished = DateTimeOffset.FromUnixTimeMilliseconds(failed.FinishedAt / 1_000_000);
        Assert.InRange(finished, startedAround.AddSeconds(-5), DateTimeOffset.UtcNow.AddSeconds(5));
        var shim = Assert.Single(fixture.ShimProcesses().Except(before));

        // kubelet's restart: remove the exited container and create the next attempt in the same sandbox.
        await Client.Runtime.RemoveContainerAsync(new RemoveContainerRequest { ContainerId = failing }, CriClient.Deadline());
        var retry = await pod.RunContainerAsync("job", image, ["worked", "", "0", "0"], attempt: 1);
        var succeeded = await pod.WaitForStateAsync(retry, ContainerState.ContainerExited, Patience);
        Assert.Equal(0, succeeded.ExitCode);
        Assert.Equal("Completed", succeeded.Reason);
        Assert.Equal(1u, succeeded.Metadata.Attempt);
        Assert.Contains(await pod.WaitForLogAsync("job", 1, attempt: 1), l => l.Stream == "stdout" && l.Content == "worked");
        Assert.Equal([shim], fixture.ShimProcesses().Except(before));
    }

    [Fact]
    public async Task ExecSync_must_return_the_output_and_exit_code_of_a_wasm_command_and_end_one_that_outlives_its_timeout()
    {
        var image = await SayImageAsync();
        await using var pod = await CriPod.RunAsync(fixture, "exec");
        var app = await pod.RunContainerAsync("app", image, ["up", "", "3600"]);
        await pod.WaitForStateAsync(app, ContainerState.ContainerRunning, Patience);

        var exit7 = await Client.Runtime.ExecSyncAsync(
            new ExecSyncRequest { ContainerId = app, Cmd = { "/exitcode.wasm", "7" }, Timeout = 20 }, CriClient.Deadline());
        Assert.Equal(7, exit7.ExitCode);
        Assert.Equal("exiting with 7\n", exit7.Stdout.ToStringUtf8());

        var both = await Client.Runtime.ExecSyncAsync(
            new ExecSyncRequest { ContainerId = app, Cmd = { "/app.wasm", "to stdout", "to stderr" }, Timeout = 20 }, CriClient.Deadline());
        Assert.Equal(0, both.ExitCode);
        Assert.Equal("to stdout\n", both.Stdout.ToStringUtf8());
        Assert.Equal("to stderr\n", both.Stderr.ToStringUtf8());

        // A probe that outlives its timeout: CRI kills the exec (SIGKILL) and fails the call; the container runs on.
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var late = await Assert.ThrowsAsync<RpcException>(async () => await Client.Runtime.ExecSyncAsync(
            new ExecSyncRequest { ContainerId = app, Cmd = { "/app.wasm", "", "", "3600" }, Timeout = 1 }, CriClient.Deadline()));
        Assert.Contains("timeout", late.Status.Detail);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(15), $"the timed-out exec took {clock.Elapsed}");
        Assert.Equal(ContainerState.ContainerRunning, (await pod.StatusAsync(app)).Status.State);
    }

    [Fact]
    public async Task The_containers_environment_and_volumes_must_reach_the_guest()
    {
        var image = await SayImageAsync();
        var volume = Directory.CreateDirectory(Path.Combine(fixture.RunDir, ContainerdFixture.NewId("volume"))).FullName;
        await File.WriteAllTextAsync(Path.Combine(volume, "greeting"), "hello from a volume\n");
        await using var pod = await CriPod.RunAsync(fixture, "volume");
        var app = await pod.RunContainerAsync("app", image, ["up", "", "3600"], customize: config =>
        {
            config.Envs.Add(new KeyValue { Key = "GREETING", Value = "hi there" });
            config.Mounts.Add(new Mount { ContainerPath = "/data", HostPath = volume, Readonly = true });
        });
        await pod.WaitForStateAsync(app, ContainerState.ContainerRunning, Patience);

        var read = await Client.Runtime.ExecSyncAsync(
            new ExecSyncRequest { ContainerId = app, Cmd = { "/readfile.wasm", "/data/greeting" }, Timeout = 20 }, CriClient.Deadline());
        Assert.True(read.ExitCode == 0 && read.Stdout.ToStringUtf8() == "hello from a volume\n", read.ToString());
        var env = await Client.Runtime.ExecSyncAsync(
            new ExecSyncRequest { ContainerId = app, Cmd = { "/args.wasm" }, Timeout = 20 }, CriClient.Deadline());
        Assert.Contains("GREETING=hi there", env.Stdout.ToStringUtf8().Split('\n'));
    }

    [Fact]
    public async Task A_workingDir_on_a_volume_must_be_taken_and_told_to_the_guest()
    {
        var image = await SayImageAsync();
        var volume = Directory.CreateDirectory(Path.Combine(fixture.RunDir, ContainerdFixture.NewId("workdir"))).FullName;
        await File.WriteAllTextAsync(Path.Combine(volume, "counter.v"), "in the volume\n");
        await using var pod = await CriPod.RunAsync(fixture, "workdir");
        var app = await pod.RunContainerAsync("app", image, ["up", "", "3600"], customize: config =>
        {
            config.WorkingDir = "/out";
            config.Mounts.Add(new Mount { ContainerPath = "/out", HostPath = volume });
        });
        await pod.WaitForStateAsync(app, ContainerState.ContainerRunning, Patience);

        var paths = await Client.Runtime.ExecSyncAsync(
            new ExecSyncRequest { ContainerId = app, Cmd = { "/paths.wasm", "cd-pwd", "counter.v", "/out/counter.v" }, Timeout = 20 }, CriClient.Deadline());

        Assert.True(paths.ExitCode == 0, paths.ToString());
        Assert.Equal("cd /out\ncounter.v: in the volume\n/out/counter.v: in the volume\n", paths.Stdout.ToStringUtf8());
    }

    [Fact]
    public async Task ContainerStats_must_report_the_guests_linear_memory_and_cpu_time()
    {
        var image = await SayImageAsync();
        await using var pod = await CriPod.RunAsync(fixture, "stats");
        var app = await pod.RunContainerAsync("app", image, ["up", "", "3600"]);
        await pod.WaitForStateAsync(app, ContainerState.ContainerRunning, Patience);

        var stats = (await Client.Runtime.ContainerStatsAsync(new ContainerStatsRequest { ContainerId = app }, CriClient.Deadline())).Stats;
        // A wasm page is 64 KiB: a running guest has at least one; kubelet's "kubectl top" reads the working set.
        Assert.True(stats.Memory?.WorkingSetBytes?.Value >= 65536, stats.ToString());
        Assert.True(stats.Memory.UsageBytes?.Value >= stats.Memory.WorkingSetBytes.Value, stats.ToString());
        Assert.True(stats.Cpu?.UsageCoreNanoSeconds?.Value > 0, stats.ToString());
    }

    [Fact]
    public async Task StopContainer_must_end_a_sleeping_guest_with_SIGTERM_within_the_grace_period_and_with_SIGKILL_without_one()
    {
        var image = await SayImageAsync();
        await using var pod = await CriPod.RunAsync(fixture, "stop");
        var graceful = await pod.RunContainerAsync("graceful", image, ["up", "", "3600"]);
        var abrupt = await pod.RunContainerAsync("abrupt", image, ["up", "", "3600"]);
        await pod.WaitForStateAsync(graceful, ContainerState.ContainerRunning, Patience);
        await pod.WaitForStateAsync(abrupt, ContainerState.ContainerRunning, Patience);

        var clock = System.Diagnostics.Stopwatch.StartNew();
        await Client.Runtime.StopContainerAsync(new StopContainerRequest { ContainerId = graceful, Timeout = 30 }, CriClient.Deadline());
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(15), $"StopContainer took {clock.Elapsed}: SIGTERM did not end the guest");
        var terminated = (await pod.StatusAsync(graceful)).Status;
        Assert.Equal((ContainerState.ContainerExited, 143, "Error"), (terminated.State, terminated.ExitCode, terminated.Reason));

        await Client.Runtime.StopContainerAsync(new StopContainerRequest { ContainerId = abrupt, Timeout = 0 }, CriClient.Deadline());
        var killed = (await pod.StatusAsync(abrupt)).Status;
        Assert.Equal((ContainerState.ContainerExited, 137), (killed.State, killed.ExitCode));
        Assert.True(killed.FinishedAt > 0, killed.ToString());
    }

    [Fact]
    public async Task Stop_and_RemovePodSandbox_must_end_every_container_and_leave_no_shim_mount_or_state()
    {
        var image = await SayImageAsync();
        var before = fixture.ShimProcesses();
        await using var pod = await CriPod.RunAsync(fixture, "gone");
        string[] ids =
        [
            await pod.RunContainerAsync("one", image, ["one out", "", "3600"]),
            await pod.RunContainerAsync("two", image, ["two out", "", "3600"]),
        ];
        foreach (var id in ids)
            await pod.WaitForStateAsync(id, ContainerState.ContainerRunning, Patience);
        var shim = Assert.Single(fixture.ShimProcesses().Except(before));
        Assert.True(File.Exists(fixture.ConventionalShimSocket(pod.Id)), "the pod's shim does not listen where expected");
        Assert.True(Directory.Exists(Path.Combine("/run/wasmkata", fixture.Ctr.Namespace, ids[0])), "no saved state while running");
        await pod.WaitForLogAsync("one", 1);

        await pod.StopAsync();
        foreach (var id in ids)
        {
            var status = (await pod.StatusAsync(id)).Status;
            Assert.Equal((ContainerState.ContainerExited, 137), (status.State, status.ExitCode));
        }
        var sandbox = await Client.Runtime.PodSandboxStatusAsync(new PodSandboxStatusRequest { PodSandboxId = pod.Id }, CriClient.Deadline());
        Assert.Equal(PodSandboxState.SandboxNotready, sandbox.Status.State);
        // Output written before the stop is in the log (drained before the exit was reported).
        Assert.Contains(await pod.WaitForLogAsync("one", 1), l => l.Content == "one out");

        await pod.RemoveAsync();
        var deadline = DateTime.UtcNow + Patience;
        while (ContainerdFixture.IsRunning(shim) && DateTime.UtcNow < deadline)
            await Task.Delay(50);
        Assert.False(ContainerdFixture.IsRunning(shim), $"shim {shim} outlived its removed pod\n{fixture.LogTail()}");
        Assert.False(File.Exists(fixture.ConventionalShimSocket(pod.Id)), "the shim's socket was left behind");
        foreach (var id in ids.Append(pod.Id))
        {
            Assert.False(Directory.Exists(Path.Combine("/run/wasmkata", fixture.Ctr.Namespace, id)), $"state of {id} left behind");
            Assert.False(Directory.Exists(fixture.BundleDir(id)), $"bundle of {id} left behind");
            Assert.DoesNotContain(ContainerdFixture.MountsUnder(fixture.RunDir), m => m.Contains(id, StringComparison.Ordinal));
        }
        var status2 = await Assert.ThrowsAsync<RpcException>(() => pod.StatusAsync(ids[0]));
        Assert.Equal(StatusCode.NotFound, status2.StatusCode);
    }

    [Fact]
    public async Task A_handler_whose_configuration_toml_is_bad_must_fail_RunPodSandbox_naming_the_key()
    {
        var failure = await Assert.ThrowsAsync<RpcException>(() => CriPod.RunAsync(fixture, "badconf", CriFixture.BadConfigHandler));
        Assert.True(failure.Status.Detail.Contains(CriFixture.BadConfigKey) && failure.Status.Detail.Contains(fixture.BadConfigPath),
            failure.Status.Detail);
    }

    [Fact]
    public async Task A_container_whose_entrypoint_is_not_wasm_must_be_refused_at_StartContainer_saying_why()
    {
        var busybox = await fixture.Images.BusyboxAsync();
        await using var pod = await CriPod.RunAsync(fixture, "native");
        var id = await pod.CreateContainerAsync("sh", busybox, ["-c", "echo native"]);
        var refused = await Assert.ThrowsAsync<RpcException>(async () =>
            await Client.Runtime.StartContainerAsync(new StartContainerRequest { ContainerId = id }, CriClient.Deadline()));
        Assert.Contains("is not a WebAssembly module", refused.Status.Detail);
    }

    // say.wasm at /app.wasm: prints argv[1] on stdout, argv[2] on stderr, sleeps argv[3] s, exits argv[4];
    [Fact]
    public async Task A_tty_container_must_log_stdout_and_stderr_as_one_terminal_stream_and_keep_its_exit_code()
    {
        var image = await SayImageAsync();
        await using var pod = await CriPod.RunAsync(fixture, "tty");
        // CRI hands a stderr FIFO to a tty container too and never reads it: the shim must leave it alone.
        var id = await pod.RunContainerAsync("tty", image, ["tty out", "tty err", "0", "5"], customize: c => c.Tty = true);

        var exited = await pod.WaitForStateAsync(id, ContainerState.ContainerExited, Patience);
        Assert.Equal(5, exited.ExitCode);
        var lines = await pod.WaitForLogAsync("tty", 2);
        // Both streams went through the guest's terminal to stdout, in order (CRI's logger drops the CR of a CR LF).
        Assert.Equal(["stdout F tty out", "stdout F tty err"], lines.Select(l => $"{l.Stream} {l.Tag} {l.Content}"));
    }

    // exitcode, readfile and args beside it for exec.
    private Task<string> SayImageAsync() => fixture.Images.WasmAsync(new WasmImage("say")
    {
        Guests = new Dictionary<string, string> { ["/exitcode.wasm"] = "exitcode", ["/readfile.wasm"] = "readfile", ["/args.wasm"] = "args", ["/paths.wasm"] = "paths" },
    });

    // The "pid" CRI reports for a container is its guest thread in the shim; its IPC namespace is the pod's.
    private static async Task<string> IpcNamespaceAsync(CriPod pod, string containerId)
    {
        var status = await pod.StatusAsync(containerId, verbose: true);
        using var info = System.Text.Json.JsonDocument.Parse(status.Info["info"]);
        var pid = info.RootElement.GetProperty("pid").GetInt32();
        return new FileInfo($"/proc/{pid}/ns/ipc").LinkTarget!;
    }
}

/// <summary><see cref="CriPodSpec"/> on containerd 1.7's CRI plugin.</summary>
[Collection(Cri17Collection.Name)]
[Trait("Category", "EndToEnd")]
[Trait("Requires", "root")]
[Trait("Runtime", "wasmkata")]
public sealed class CriPodOnContainerd17Spec(Cri17Fixture fixture) : CriPodSpec(fixture);

/// <summary><see cref="CriPodSpec"/> on containerd 2.x's CRI plugin (version 3 config, sandboxer "podsandbox").</summary>
[Collection(Cri2Collection.Name)]
[Trait("Category", "EndToEnd")]
[Trait("Requires", "root")]
[Trait("Runtime", "wasmkata")]
public sealed class CriPodOnContainerd2Spec(Cri2Fixture fixture) : CriPodSpec(fixture);
