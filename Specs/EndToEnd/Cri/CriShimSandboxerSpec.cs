using Grpc.Core;
using WasmKata.Specs.EndToEnd.Cri.V1;
using Xunit;
using Xunit.Abstractions;

namespace WasmKata.Specs.EndToEnd.Cri;

/// <summary>
/// Pods on containerd 2.x through a runtime handler whose sandboxer is "shim": containerd drives the sandbox through
/// the shim's sandbox API (CreateSandbox, StartSandbox, WaitSandbox, ... ShutdownSandbox) and runs no pause
/// container. The pods have their own network namespace (CNI bridge): 2.1 panics for a host-network one.
/// </summary>
[Collection(Cri2Collection.Name)]
[Trait("Category", "EndToEnd")]
[Trait("Requires", "root")]
[Trait("Runtime", "wasmkata")]
public sealed class CriShimSandboxerSpec(Cri2Fixture fixture, ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    private CriClient Client => fixture.Client;

    [Fact]
    public async Task A_pod_must_run_its_containers_in_the_shims_own_sandbox_log_stop_and_leave_no_shim_cgroup_or_state()
    {
        var image = await SayImageAsync();
        var before = fixture.ShimProcesses();
        await using var pod = await CriPod.RunAsync(fixture, "sbx", Cri2Fixture.SandboxHandler, podNetwork: true);

        // The sandbox is the shim itself: ready, with the address CNI gave the pod's namespace, and no pause container.
        var sandbox = await Client.Runtime.PodSandboxStatusAsync(new PodSandboxStatusRequest { PodSandboxId = pod.Id }, CriClient.Deadline());
        Assert.Equal(PodSandboxState.SandboxReady, sandbox.Status.State);
        Assert.StartsWith("192.0.2.", sandbox.Status.Network?.Ip ?? "", StringComparison.Ordinal);
        var shim = Assert.Single(fixture.ShimProcesses().Except(before));
        var containers = await fixture.Ctr.RunAsync("containers", "ls", "-q");
        Assert.Equal(0, containers.ExitCode);
        Assert.DoesNotContain(pod.Id, containers.StdoutText.Split('\n', StringSplitOptions.RemoveEmptyEntries));

        var app = await pod.RunContainerAsync("app", image, ["app out", "app err", "3600"]);
        var job = await pod.RunContainerAsync("job", image, ["job out", "", "0", "3"]);
        await pod.WaitForStateAsync(app, ContainerState.ContainerRunning, Patience);
        var exited = await pod.WaitForStateAsync(job, ContainerState.ContainerExited, Patience);
        Assert.Equal(3, exited.ExitCode);
        Assert.Equal([shim], fixture.ShimProcesses().Except(before));
        Assert.Equal(["stderr F app err", "stdout F app out"], (await pod.WaitForLogAsync("app", 2)).Select(l => $"{l.Stream} {l.Tag} {l.Content}").Order());
        Assert.Contains(await pod.WaitForLogAsync("job", 1), l => l.Content == "job out");
        // The guests run in the pod's network namespace (CNI's), not the host's; the shim's own threads stay in the host's.
        var guest = await GuestThreadAsync(pod, app);
        Assert.NotEqual(Namespace("self", "net"), Namespace(guest, "net"));
        Assert.Equal(Namespace("self", "net"), Namespace(shim.ToString(System.Globalization.CultureInfo.InvariantCulture), "net"));
        var cgroup = PidsCgroup(shim);
        output.WriteLine($"shim {shim}, pids cgroup {cgroup}, pod address {sandbox.Status.Network?.Ip}");
        Assert.NotEqual("/", cgroup);
        Assert.True(Directory.Exists("/sys/fs/cgroup/pids" + cgroup), $"no sandbox cgroup {cgroup}");

        await pod.StopAsync();
        var stopped = (await pod.StatusAsync(app)).Status;
        Assert.Equal((ContainerState.ContainerExited, 137), (stopped.State, stopped.ExitCode));
        sandbox = await Client.Runtime.PodSandboxStatusAsync(new PodSandboxStatusRequest { PodSandboxId = pod.Id }, CriClient.Deadline());
        Assert.Equal(PodSandboxState.SandboxNotready, sandbox.Status.State);
        Assert.True(ContainerdFixture.IsRunning(shim), "the shim left before RemovePodSandbox");

        await pod.RemoveAsync();
        var deadline = DateTime.UtcNow + Patience;
        while (ContainerdFixture.IsRunning(shim) && DateTime.UtcNow < deadline)
            await Task.Delay(50);
        Assert.False(ContainerdFixture.IsRunning(shim), $"shim {shim} outlived its removed pod\n{fixture.LogTail()}");
        Assert.False(File.Exists(fixture.ConventionalShimSocket(pod.Id)), "the shim's socket was left behind");
        Assert.False(Directory.Exists("/sys/fs/cgroup/pids" + cgroup), $"the sandbox's cgroup {cgroup} was left behind");
        foreach (var id in new[] { app, job, pod.Id })
        {
            Assert.False(Directory.Exists(Path.Combine("/run/wasmkata", fixture.Ctr.Namespace, id)), $"state of {id} left behind");
            Assert.False(Directory.Exists(fixture.BundleDir(id)), $"bundle of {id} left behind");
            Assert.DoesNotContain(ContainerdFixture.MountsUnder(fixture.RunDir), m => m.Contains(id, StringComparison.Ordinal));
        }
        Assert.False(Directory.Exists(Path.Combine(fixture.RunDir, "state", "io.containerd.sandbox.controller.v1.shim", fixture.Ctr.Namespace, pod.Id)),
            "the sandbox's bundle was left behind");
        var gone = await Assert.ThrowsAsync<RpcException>(() => pod.StatusAsync(app));
        Assert.Equal(StatusCode.NotFound, gone.StatusCode);
    }

    [Fact]
    public async Task ExecSync_and_ContainerStats_must_work_in_a_shim_sandbox()
    {
        var image = await SayImageAsync();
        await using var pod = await CriPod.RunAsync(fixture, "sbxexec", Cri2Fixture.SandboxHandler, podNetwork: true);
        var app = await pod.RunContainerAsync("app", image, ["up", "", "3600"]);
        await pod.WaitForStateAsync(app, ContainerState.ContainerRunning, Patience);

        var exec = await Client.Runtime.ExecSyncAsync(new ExecSyncRequest { ContainerId = app, Cmd = { "/exitcode.wasm", "7" }, Timeout = 10 },
            CriClient.Deadline());
        // CRI asks the sandbox's Platform for stats: a wrong one fails them all.
        var stats = (await Client.Runtime.ContainerStatsAsync(new ContainerStatsRequest { ContainerId = app }, CriClient.Deadline())).Stats;

        Assert.Equal(7, exec.ExitCode);
        Assert.True(stats.Memory?.WorkingSetBytes?.Value >= 65536, stats.ToString());
    }

    [Fact]
    public async Task A_shim_sandbox_must_outlive_a_containerd_restart_and_still_stop_and_go_after_it()
    {
        var image = await SayImageAsync();
        var before = fixture.ShimProcesses();
        await using var pod = await CriPod.RunAsync(fixture, "sbxrestart", Cri2Fixture.SandboxHandler, podNetwork: true);
        var app = await pod.RunContainerAsync("app", image, ["before", "", "3600"]);
        await pod.WaitForStateAsync(app, ContainerState.ContainerRunning, Patience);
        var shim = Assert.Single(fixture.ShimProcesses().Except(before));

        // containerd reloads the sandbox's shim and CRI asks it SandboxStatus, then waits on it again.
        await fixture.RestartContainerdAsync();
        var sandbox = await Client.Runtime.PodSandboxStatusAsync(new PodSandboxStatusRequest { PodSandboxId = pod.Id }, CriClient.Deadline());

        Assert.Equal(PodSandboxState.SandboxReady, sandbox.Status.State);
        Assert.Equal(ContainerState.ContainerRunning, (await pod.StatusAsync(app)).Status.State);
        Assert.True(ContainerdFixture.IsRunning(shim), $"shim {shim} did not outlive the restart\n{fixture.LogTail()}");
        var late = await pod.RunContainerAsync("late", image, ["after", "", "0", "0"]);
        Assert.Equal(0, (await pod.WaitForStateAsync(late, ContainerState.ContainerExited, Patience)).ExitCode);
        Assert.Equal([shim], fixture.ShimProcesses().Except(before));

        await pod.StopAsync();
        await pod.RemoveAsync();
        var deadline = DateTime.UtcNow + Patience;
        while (ContainerdFixture.IsRunning(shim) && DateTime.UtcNow < deadline)
            await Task.Delay(50);
        Assert.False(ContainerdFixture.IsRunning(shim), $"shim {shim} outlived its removed pod\n{fixture.LogTail()}");
    }

    private Task<string> SayImageAsync() => fixture.Images.WasmAsync(new WasmImage("say")
    {
        Guests = new Dictionary<string, string> { ["/exitcode.wasm"] = "exitcode", ["/readfile.wasm"] = "readfile", ["/args.wasm"] = "args", ["/paths.wasm"] = "paths" },
    });

    // The "pid" CRI reports for a container is its guest thread in the shim.
    private static async Task<string> GuestThreadAsync(CriPod pod, string containerId)
    {
        var status = await pod.StatusAsync(containerId, verbose: true);
        using var info = System.Text.Json.JsonDocument.Parse(status.Info["info"]);
        return info.RootElement.GetProperty("pid").GetInt32().ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    private static string Namespace(string pid, string kind) => new FileInfo($"/proc/{pid}/ns/{kind}").LinkTarget!;

    // The shim's pids cgroup: the sandbox's host cgroup, made from the first container's cgroups path.
    private static string PidsCgroup(int pid) =>
        File.ReadLines($"/proc/{pid}/cgroup").Select(l => l.Split(':', 3)).FirstOrDefault(p => p[1] == "pids")?[2] ?? "/";
}
