using System.Globalization;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using WasmKata.Core.Protos.TaskApi;
using WasmKata.Shim.Ttrpc;
using Xunit;
using Xunit.Abstractions;

namespace WasmKata.Specs.EndToEnd;

/// <summary>Resource control through `ctr`: memory limits and OOM, metrics, update, pause/resume, the sandbox cgroup.</summary>
[Collection(EndToEndCollection.Name)]
[Trait("Category", "EndToEnd")]
[Trait("Requires", "root")]
[Trait("Runtime", "wasmkata")]
public class WasmResourcesSpec(ContainerdFixture fixture, ITestOutputHelper output)
{
    private const long MiB = 1 << 20;

    // /app.wasm grows its memory; /spin.wasm burns CPU.
    private static readonly WasmImage Image = new("grow")
    {
        Guests = new Dictionary<string, string> { ["/spin.wasm"] = "spin" },
    };

    private Ctr Ctr => fixture.Ctr;

    [Fact]
    public async Task Memory_limit_must_refuse_growth_that_the_same_guest_gets_without_it_and_publish_oom()
    {
        var image = await fixture.Images.WasmAsync(Image);
        using var events = Ctr.Start(["events"]);
        var limitedId = ContainerdFixture.NewId("grow-limited");

        var limited = await Ctr.RunAsync(Ctr.RunArgs(Ctr.WasmRuntime, image, limitedId,
            ["--rm", "--memory-limit", (4 * MiB).ToString(CultureInfo.InvariantCulture)], "/app.wasm", "16"));
        var unlimited = await Ctr.RunAsync(Ctr.RunArgs(Ctr.WasmRuntime, image, ContainerdFixture.NewId("grow-free"), ["--rm"], "/app.wasm", "16"));

        Assert.True(limited.ExitCode == 0, Ctr.Explain(limited));
        Assert.True(limited.StdoutText == $"refused at {4 * MiB} bytes\n", Ctr.Explain(limited));
        Assert.True(unlimited.ExitCode == 0, Ctr.Explain(unlimited));
        Assert.True(unlimited.StdoutText == $"reached {16 * MiB} bytes\n", Ctr.Explain(unlimited));
        await Until(() => events.StdoutSoFar().Split('\n').Any(l => l.Contains("/tasks/oom", StringComparison.Ordinal) && l.Contains(limitedId, StringComparison.Ordinal)),
            TimeSpan.FromSeconds(10), () => "no /tasks/oom for " + limitedId + " in `ctr events`:\n" + events.StdoutSoFar());
        events.Kill();
    }

    [Fact]
    public async Task Metrics_must_show_memory_and_cpu_of_a_running_guest_and_update_must_change_its_limit()
    {
        var image = await fixture.Images.WasmAsync(Image);
        await using var container = await DetachedContainer.StartAsync(Ctr, Ctr.WasmRuntime, image, "metrics",
            ["--memory-limit", (4 * MiB).ToString(CultureInfo.InvariantCulture)], "/app.wasm", "8", "600");

        var metrics = await ResourceProbe.MetricsUntilAsync(Ctr, container.Id,
            m => m.GetValueOrDefault("memory.usage_in_bytes") == (4 * MiB).ToString(CultureInfo.InvariantCulture), TimeSpan.FromSeconds(10));
        output.WriteLine(string.Join('\n', metrics.Select(m => $"{m.Key} {m.Value}")));
        Assert.Equal((4 * MiB).ToString(CultureInfo.InvariantCulture), metrics["memory.limit_in_bytes"]);
        Assert.True(ulong.Parse(metrics["cpuacct.usage"], CultureInfo.InvariantCulture) > 0, "cpuacct.usage is 0");
        Assert.True(ulong.Parse(metrics["pids.current"], CultureInfo.InvariantCulture) > 1, "pids.current should count the shim's threads in its cgroup");

        // ctr 1.6 has no `task update`: containerd's own client call, straight to the shim.
        await using var shim = await TtrpcClient.ConnectAsync(fixture.ConventionalShimSocket(container.Id));
        await UpdateAsync(shim, container.Id, "{\"memory\":{\"limit\":" + (8 * MiB).ToString(CultureInfo.InvariantCulture) + "}}");
        metrics = await ResourceProbe.MetricsUntilAsync(Ctr, container.Id,
            m => m.GetValueOrDefault("memory.usage_in_bytes") == (8 * MiB).ToString(CultureInfo.InvariantCulture), TimeSpan.FromSeconds(10));
        Assert.Equal((8 * MiB).ToString(CultureInfo.InvariantCulture), metrics["memory.limit_in_bytes"]);

        // Bad input is refused with InvalidArgument, and the shim keeps serving.
        var negative = await Assert.ThrowsAsync<TtrpcException>(() => UpdateAsync(shim, container.Id, """{"memory":{"limit":-5}}"""));
        Assert.Equal(StatusCode.InvalidArgument, negative.Code);
        var garbage = await Assert.ThrowsAsync<TtrpcException>(() => UpdateAsync(shim, container.Id, "{not json"));
        Assert.Equal(StatusCode.InvalidArgument, garbage.Code);
        var quota = await Assert.ThrowsAsync<TtrpcException>(() => UpdateAsync(shim, container.Id, """{"cpu":{"quota":10}}"""));
        Assert.Equal(StatusCode.InvalidArgument, quota.Code);
        var wrongType = await Assert.ThrowsAsync<TtrpcException>(() => shim.CallAsync<UpdateTaskRequest, Empty>(TaskService, "Update",
            new UpdateTaskRequest { Id = container.Id, Resources = new Any { TypeUrl = "containerd.runc.v1.Options", Value = ByteString.CopyFromUtf8("{}") } }));
        Assert.Equal(StatusCode.InvalidArgument, wrongType.Code);
        Assert.Equal("RUNNING", await Ctr.TaskStatusAsync(container.Id));
        Assert.Equal((8 * MiB).ToString(CultureInfo.InvariantCulture), (await ResourceProbe.MetricsAsync(Ctr, container.Id))["memory.limit_in_bytes"]);
    }

    [Fact]
    public async Task Pause_must_stop_a_spinning_guests_cpu_use_until_resume_and_kill_must_still_work()
    {
        var image = await fixture.Images.WasmAsync(Image);
        await using var container = await DetachedContainer.StartAsync(Ctr, ResourceProbe.QuietShim(fixture), image, "pause", "/spin.wasm");
        using var events = Ctr.Start(["events"]);
        var shim = await ResourceProbe.ShimPidAsync(Ctr, container.Id);
        var guest = await ResourceProbe.TaskPidAsync(Ctr, container.Id);
        // The shim's own start-up (JIT) costs CPU too, and the machine is shared and loaded: each figure is the best of a
        // few one-second windows (most while running, least while paused), shim and guest thread measured together.
        await Task.Delay(TimeSpan.FromSeconds(2));

        var spinning = await BestOfAsync(shim, guest, 2, max: true);
        var pause = await Ctr.RunAsync("task", "pause", container.Id);
        Assert.True(pause.ExitCode == 0, Ctr.Explain(pause));
        Assert.Equal("PAUSED", await Ctr.TaskStatusAsync(container.Id));
        var paused = await BestOfAsync(shim, guest, 3, max: false);
        Assert.Equal("PAUSED", await Ctr.TaskStatusAsync(container.Id));
        var resume = await Ctr.RunAsync("task", "resume", container.Id);
        Assert.True(resume.ExitCode == 0, Ctr.Explain(resume));
        Assert.Equal("RUNNING", await Ctr.TaskStatusAsync(container.Id));
        var resumed = await BestOfAsync(shim, guest, 2, max: true);

        output.WriteLine($"CPU per second of shim {shim} (guest thread {guest}): spinning {spinning.Shim.TotalMilliseconds} ms ({spinning.Guest.TotalMilliseconds} ms), " +
                         $"paused {paused.Shim.TotalMilliseconds} ms ({paused.Guest.TotalMilliseconds} ms), resumed {resumed.Shim.TotalMilliseconds} ms ({resumed.Guest.TotalMilliseconds} ms)");
        // The guest's thread stops dead (a tick of 10 ms is the clock's grain); the shim as a whole drops to its idle use.
        Assert.True(paused.Guest <= TimeSpan.FromMilliseconds(10), $"the paused guest thread used {paused.Guest.TotalMilliseconds} ms of CPU in a second");
        Assert.True(paused.Shim < spinning.Shim / 3 && paused.Shim < TimeSpan.FromMilliseconds(150),
            $"paused: the shim used {paused.Shim.TotalMilliseconds} ms of CPU in a second (spinning: {spinning.Shim.TotalMilliseconds} ms)");
        Assert.True(resumed.Guest > TimeSpan.FromMilliseconds(200) && resumed.Shim > paused.Shim * 2,
            $"resumed: the shim used {resumed.Shim.TotalMilliseconds} ms, its guest thread {resumed.Guest.TotalMilliseconds} ms of CPU in a second (paused: {paused.Shim.TotalMilliseconds} ms)");

        // Pausing twice, or resuming a running task, is refused; kill ends a paused guest promptly.
        Assert.Equal(0, (await Ctr.RunAsync("task", "pause", container.Id)).ExitCode);
        Assert.NotEqual(0, (await Ctr.RunAsync("task", "pause", container.Id)).ExitCode);
        var kill = await Ctr.RunAsync("task", "kill", "-s", "SIGKILL", container.Id);
        Assert.True(kill.ExitCode == 0, Ctr.Explain(kill));
        await Ctr.WaitForTaskStatusAsync(container.Id, "STOPPED", TimeSpan.FromSeconds(2));
        var rm = await Ctr.RunAsync("task", "rm", container.Id);
        Assert.True(rm.ExitCode == 0, Ctr.Explain(rm));

        await Until(() => Topics(events, container.Id) is ["/tasks/paused", "/tasks/resumed", "/tasks/paused", "/tasks/exit", ..],
            TimeSpan.FromSeconds(10), () => "events of " + container.Id + ": " + string.Join(", ", Topics(events, container.Id)));
        events.Kill();
    }

    [Fact]
    public async Task The_sandbox_must_run_in_its_cgroup_with_the_limit_plus_overhead_and_the_cgroup_must_go_with_it()
    {
        var image = await fixture.Images.WasmAsync(Image);
        await using var container = await DetachedContainer.StartAsync(Ctr, Ctr.WasmRuntime, image, "cgroup",
            ["--memory-limit", (4 * MiB).ToString(CultureInfo.InvariantCulture)], "/app.wasm", "1", "600");
        var shim = await ResourceProbe.ShimPidAsync(Ctr, container.Id);
        // ctr gives every container linux.cgroupsPath /<namespace>/<id>: the cgroupfs driver makes it.
        var path = $"/{Ctr.Namespace}/{container.Id}";
        var memory = "/sys/fs/cgroup/memory" + path;

        var cgroups = await File.ReadAllTextAsync($"/proc/{shim}/cgroup");
        Assert.Contains(":memory:" + path + "\n", cgroups, StringComparison.Ordinal);
        Assert.Contains(":pids:" + path + "\n", cgroups, StringComparison.Ordinal);
        Assert.Equal((4 * MiB + 256 * MiB).ToString(CultureInfo.InvariantCulture), (await File.ReadAllTextAsync(Path.Combine(memory, "memory.limit_in_bytes"))).Trim());

        await Ctr.RunAsync("task", "kill", "-s", "SIGKILL", container.Id);
        await Ctr.WaitForTaskStatusAsync(container.Id, "STOPPED", TimeSpan.FromSeconds(5));
        Assert.Equal(0, (await Ctr.RunAsync("task", "rm", container.Id)).ExitCode);
        await Until(() => !Directory.Exists(memory), TimeSpan.FromSeconds(10), () => memory + " is still there after the task was deleted");
    }

    [Fact]
    public async Task The_delete_action_must_remove_the_cgroup_of_a_shim_killed_with_sigkill()
    {
        var image = await fixture.Images.WasmAsync(Image);
        await using var container = await DetachedContainer.StartAsync(Ctr, Ctr.WasmRuntime, image, "cgcrash", "/app.wasm", "1", "600");
        var shim = await ResourceProbe.ShimPidAsync(Ctr, container.Id);
        var memory = $"/sys/fs/cgroup/memory/{Ctr.Namespace}/{container.Id}";
        Assert.True(Directory.Exists(memory), memory + " does not exist");

        Assert.True(WasmKata.Linux.Processes.Signals.TrySend(shim, 9));
        await Until(() => !ContainerdFixture.IsRunning(shim), TimeSpan.FromSeconds(10), () => $"shim {shim} still runs");
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (await Ctr.TaskStatusAsync(container.Id) is "RUNNING" && DateTime.UtcNow < deadline)
            await Task.Delay(100);
        var delete = await Ctr.RunAsync("task", "delete", container.Id);
        Assert.True(delete.ExitCode == 0 || delete.Stderr.Contains("not found", StringComparison.Ordinal), Ctr.Explain(delete));

        await Until(() => !Directory.Exists(memory), TimeSpan.FromSeconds(10), () => memory + " is still there after the crashed shim's delete\n" + fixture.LogTail());
    }

    private const string TaskService = "containerd.task.v2.Task";

    private static Task UpdateAsync(TtrpcClient shim, string id, string json) =>
        shim.CallAsync<UpdateTaskRequest, Empty>(TaskService, "Update", new UpdateTaskRequest
        {
            Id = id,
            Resources = new Any { TypeUrl = "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources", Value = ByteString.CopyFromUtf8(json) },
        });

    private static async Task<(TimeSpan Shim, TimeSpan Guest)> BestOfAsync(int shim, int guest, int windows, bool max)
    {
        var figures = new List<(TimeSpan Shim, TimeSpan Guest)>();
        for (var i = 0; i < windows; i++)
        {
            var (shimBefore, guestBefore) = (ResourceProbe.CpuTime(shim), ResourceProbe.ThreadCpuTime(shim, guest));
            await Task.Delay(TimeSpan.FromSeconds(1));
            figures.Add((ResourceProbe.CpuTime(shim) - shimBefore, ResourceProbe.ThreadCpuTime(shim, guest) - guestBefore));
        }
        return max ? figures.MaxBy(f => f.Shim) : figures.MinBy(f => f.Shim);
    }

    private static string[] Topics(ChildProcess events, string id) =>
        events.StdoutSoFar().Split('\n')
            .Where(l => l.Contains(id, StringComparison.Ordinal))
            .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault(c => c.StartsWith("/tasks/", StringComparison.Ordinal)) ?? "")
            .Where(t => t is "/tasks/paused" or "/tasks/resumed" or "/tasks/exit")
            .ToArray();

    private static async Task Until(Func<bool> condition, TimeSpan timeout, Func<string> failure)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
                Assert.Fail(failure());
            await Task.Delay(50);
        }
    }
}
