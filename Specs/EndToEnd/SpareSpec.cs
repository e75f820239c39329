using System.Text.Json.Nodes;
using WasmKata.Linux.Processes;
using Xunit;

namespace WasmKata.Specs.EndToEnd;

/// <summary>
/// Spares through real containerd: the daemon a start leaves waiting is what serves the next sandbox of the same
/// containerd and namespace, and never another's; a spare that is gone, stale or stuck leaves the start to a cold
/// daemon; WASMKATA_SPARE_SECONDS turns them off or bounds their wait; a stopped containerd ends them.
/// </summary>
[Collection(EndToEndCollection.Name)]
[Trait("Category", "EndToEnd")]
[Trait("Requires", "root")]
[Trait("Runtime", "wasmkata")]
public sealed class SpareSpec(SpareSpec.SparesOnContainerd fixture) : IClassFixture<SpareSpec.SparesOnContainerd>
{
    /// <summary>Spares are opt-in: this spec's own containerd passes WASMKATA_SPARE_SECONDS=30 to its shims.</summary>
    public sealed class SparesOnContainerd() : ContainerdFixture("spares-on", null)
    {
        protected override IEnumerable<string> ContainerdEnvironment => ["WASMKATA_SPARE_SECONDS=30"];
    }

    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private Ctr Ctr => fixture.Ctr;

    [Fact]
    public async Task The_next_sandbox_must_be_served_by_the_spare_the_last_start_left()
    {
        var spare = await FreshSpareAsync(fixture, Ctr);

        var sleep = await fixture.Images.WasmAsync(new WasmImage("sleep"));
        var before = Spares(fixture, Ctr.Namespace);
        await using (var sleeper = await DetachedContainer.StartAsync(Ctr, Ctr.WasmRuntime, sleep, "spare-sleep", "/app.wasm", "3600"))
        {
            // What containerd and clients need: the adopted spare is the daemon that serves the sandbox. The task's pid
            // is its guest's thread (guest_isolation = "thread") or its guest host, a child of the spare ("process");
            // ShimPidAsync checks which and answers the daemon either way.
            Assert.Equal(spare, await ResourceProbe.ShimPidAsync(Ctr, sleeper.Id));
            if (GuestIsolation.IsProcess)
                Assert.NotEqual(spare, await ResourceProbe.TaskPidAsync(Ctr, sleeper.Id));
            Assert.Equal("wasmkata-shimd", Comm(spare));
            Assert.False(ContainerdFixture.IsWaitingSpare(spare), "the adopted spare still runs at nice 19");
            Assert.Contains(spare, fixture.ShimProcesses());
        }

        // Its start left the next spare, which a container that prints and exits runs in.
        var next = await NewSpareAsync(fixture, Ctr.Namespace, before);
        var hello = await fixture.Images.WasmAsync(new WasmImage("hello"));
        var id = ContainerdFixture.NewId("spare-hello");
        var run = await Ctr.RunAsync(Ctr.RunArgs(Ctr.WasmRuntime, hello, id));
        Assert.True(run.ExitCode == 0 && run.StdoutText == "hello from wasm\n", Ctr.Explain(run));
        await AssertLogAsync(fixture, $"spare {next} adopted for {id}");
    }

    [Fact]
    public async Task An_adopted_spare_must_deliver_all_output_to_a_reader_slower_than_the_guest()
    {
        // The case that once lost the last 1 MiB: ctr 1.6 drops what the FIFO still holds when it gets the exit.
        const int mebibytes = 8;
        var spare = await FreshSpareAsync(fixture, Ctr);
        var bigout = await fixture.Images.WasmAsync(new WasmImage("bigout"));
        var id = ContainerdFixture.NewId("spare-bigout");

        using var ctr = Ctr.Start(Ctr.RunArgs(Ctr.WasmRuntime, bigout, id, null, "/app.wasm", $"{mebibytes}"),
            stdoutPause: TimeSpan.FromMilliseconds(5));
        var run = await ctr.WaitAsync(TimeSpan.FromMinutes(2), () => fixture.LogTail());

        var summary = $"exit {run.ExitCode}, {run.Stdout.Length} bytes on stdout, stderr: {run.Stderr}\n{fixture.LogTail()}";
        Assert.True(run.ExitCode == 0 && run.Stdout.Length == mebibytes << 20, summary);
        // The bigout guest writes byte i % 251 at offset i.
        var wrong = Enumerable.Range(0, run.Stdout.Length).FirstOrDefault(i => run.Stdout[i] != (byte)(i % 251), -1);
        Assert.True(wrong < 0, $"stdout differs at offset {wrong}");
        await AssertLogAsync(fixture, $"spare {spare} adopted for {id}");
    }

    [Fact]
    public async Task A_spare_must_never_serve_another_namespace()
    {
        var spare = await FreshSpareAsync(fixture, Ctr);
        var other = new Ctr(Ctr.Address, Ctr.Namespace + "-b", () => fixture.LogTail());
        var id = ContainerdFixture.NewId("spare-ns");

        var run = await RunHelloAsync(fixture, other, id);

        Assert.True(run.ExitCode == 0 && run.StdoutText == "hello from wasm\n", other.Explain(run));
        Assert.True(ContainerdFixture.IsWaitingSpare(spare), $"spare {spare} of namespace {Ctr.Namespace} was adopted by {other.Namespace}");
        await AssertLogAsync(fixture, $"started cold for {id}: no spare");
    }

    [Fact]
    public async Task A_killed_spare_must_leave_the_start_to_a_cold_daemon_and_its_stale_socket_to_the_next_spare()
    {
        var spare = await FreshSpareAsync(fixture, Ctr);
        var socket = await SpareSocketAsync(spare);
        Assert.True(Signals.TrySend(spare, 9));
        await UntilAsync(() => !ContainerdFixture.IsRunning(spare), $"spare {spare} outlived SIGKILL");
        Assert.True(File.Exists(socket), $"the killed spare left no socket at {socket} to be stale");

        var before = Spares(fixture, Ctr.Namespace);
        var id = ContainerdFixture.NewId("spare-stale");
        var run = await RunHelloAsync(fixture, Ctr, id);

        Assert.True(run.ExitCode == 0 && run.StdoutText == "hello from wasm\n", Ctr.Explain(run));
        await AssertLogAsync(fixture, $"started cold for {id}: no live spare");
        var next = await NewSpareAsync(fixture, Ctr.Namespace, before);
        await UntilAsync(() => UnixListener.IsServing(socket), $"spare {next} did not take over the stale socket {socket}");
    }

    [Fact]
    public async Task A_new_spare_must_sweep_stale_sockets_and_rehearsal_folders_that_killed_spares_left()
    {
        var stale = $"/run/wasmkata/spare/{Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(8))}.sock";
        Directory.CreateDirectory("/run/wasmkata/spare");
        using (UnixListener.Bind(stale))
        {
            // Closed without removing its file, as a killed spare's is; a minute old, so surely not just being bound.
        }

        File.SetLastWriteTimeUtc(stale, DateTime.UtcNow - TimeSpan.FromMinutes(5));
        var rehearsal = Directory.CreateDirectory("/run/wasmkata/spare/rehearsal-4194399").FullName; // above any pid

        await FreshSpareAsync(fixture, Ctr);

        await UntilAsync(() => !File.Exists(stale) && !Directory.Exists(rehearsal), $"{stale} or {rehearsal} was not swept");
    }

    [Fact]
    public async Task A_spare_that_does_not_answer_must_be_killed_and_the_start_served_cold()
    {
        var spare = await FreshSpareAsync(fixture, Ctr);
        await SpareSocketAsync(spare);
        Assert.True(Signals.TrySend(spare, 19)); // SIGSTOP: it still accepts (the kernel does) but never answers

        var id = ContainerdFixture.NewId("spare-stuck");
        var run = await RunHelloAsync(fixture, Ctr, id);

        Assert.True(run.ExitCode == 0 && run.StdoutText == "hello from wasm\n", Ctr.Explain(run));
        await UntilAsync(() => !ContainerdFixture.IsRunning(spare), $"the stuck spare {spare} was not killed");
        await AssertLogAsync(fixture, $"started cold for {id}: spare {spare} failed");
    }

    [Fact]
    public async Task Spare_seconds_0_must_start_none()
    {
        await using var containerd = await SpareContainerd.StartAsync("0");
        var id = ContainerdFixture.NewId("spare-off");

        var run = await RunHelloAsync(containerd, containerd.Ctr, id);

        Assert.True(run.ExitCode == 0 && run.StdoutText == "hello from wasm\n", containerd.Ctr.Explain(run));
        await AssertLogAsync(containerd, $"started cold for {id}: spares are off");
        Assert.Empty(containerd.SpareProcesses());
    }

    [Fact]
    public async Task An_idle_spare_must_exit_after_its_seconds_and_remove_its_socket()
    {
        await using var containerd = await SpareContainerd.StartAsync("3");
        var spare = await FreshSpareAsync(containerd, containerd.Ctr);
        var socket = await SpareSocketAsync(spare);

        await UntilAsync(() => !ContainerdFixture.IsRunning(spare), $"spare {spare} still waits after its 3 s");
        Assert.False(File.Exists(socket), $"the idle spare left {socket} behind");
    }

    [Fact]
    public async Task A_stopped_containerd_must_end_its_spare_and_never_lend_it_to_another_containerd()
    {
        await using var containerd = await SpareContainerd.StartAsync("30");
        var spare = await FreshSpareAsync(containerd, containerd.Ctr);
        var socket = await SpareSocketAsync(spare);

        // The shared containerd runs its own sandbox beside it: cold or with its own spare, never with this one.
        var id = ContainerdFixture.NewId("spare-other");
        var run = await RunHelloAsync(fixture, Ctr, id);
        Assert.True(run.ExitCode == 0 && run.StdoutText == "hello from wasm\n", Ctr.Explain(run));
        Assert.True(ContainerdFixture.IsWaitingSpare(spare), $"spare {spare} of {containerd.RunDir} was adopted by another containerd");

        // containerd alone is stopped (not the shims, which the fixture's stop would also end).
        var pid = int.Parse(await File.ReadAllTextAsync(Path.Combine(containerd.RunDir, "containerd.pid")));
        Assert.True(Signals.TrySend(pid, 15));
        await UntilAsync(() => !ContainerdFixture.IsRunning(spare), $"spare {spare} outlived its containerd");
        Assert.False(File.Exists(socket), $"the spare of the stopped containerd left {socket} behind");
    }

    [Fact]
    public async Task Stopping_a_fixture_s_containerd_must_leave_no_spare_behind()
    {
        var containerd = await SpareContainerd.StartAsync("30");
        int spare;
        string socket;
        try
        {
            spare = await FreshSpareAsync(containerd, containerd.Ctr);
            socket = await SpareSocketAsync(spare);
        }
        finally
        {
            await containerd.DisposeAsync();
        }

        Assert.False(ContainerdFixture.IsRunning(spare), $"spare {spare} outlived the fixture");
        Assert.False(File.Exists(socket), $"the fixture's stop left {socket} behind");
    }

    /// <summary>Runs a container through the shim and returns the spare its start left (the new one, for this key).</summary>
    private static async Task<int> FreshSpareAsync(ContainerdFixture containerd, Ctr ctr)
    {
        var before = Spares(containerd, ctr.Namespace);
        var run = await RunHelloAsync(containerd, ctr, ContainerdFixture.NewId("spare-make"));
        Assert.True(run.ExitCode == 0, ctr.Explain(run));
        return await NewSpareAsync(containerd, ctr.Namespace, before);
    }

    private static async Task<int> NewSpareAsync(ContainerdFixture containerd, string ns, IReadOnlyList<int> before)
    {
        IReadOnlyList<int> fresh = [];
        await UntilAsync(() => (fresh = Spares(containerd, ns).Except(before).ToList()).Count > 0, "no new spare after the start");
        return Assert.Single(fresh);
    }

    /// <summary>Waiting spares of <paramref name="containerd"/> for namespace <paramref name="ns"/>.</summary>
    private static List<int> Spares(ContainerdFixture containerd, string ns) =>
        containerd.SpareProcesses().Where(pid => Argv(pid).Contains(ns)).ToList();

    /// <summary>A spare's socket, from the key in its environment, once it is there.</summary>
    private static async Task<string> SpareSocketAsync(int pid)
    {
        var environ = (await File.ReadAllTextAsync($"/proc/{pid}/environ")).Split('\0');
        var key = environ.First(v => v.StartsWith("WASMKATA_SPARE_KEY=", StringComparison.Ordinal))["WASMKATA_SPARE_KEY=".Length..];
        var socket = $"/run/wasmkata/spare/{key}.sock";
        await UntilAsync(() => UnixListener.IsServing(socket), $"spare {pid} does not listen on {socket}");
        return socket;
    }

    /// <summary>hello.wasm with `ctr run --rm --config`: no image, so it runs in any namespace.</summary>
    private static async Task<ProcessResult> RunHelloAsync(ContainerdFixture containerd, Ctr ctr, string id)
    {
        var rootfs = Directory.CreateDirectory(Path.Combine(containerd.RunDir, $"{id}-rootfs")).FullName;
        await File.WriteAllBytesAsync(Path.Combine(rootfs, "app.wasm"), containerd.Images.GuestBytes("hello"));
        var generated = await ctr.RunAsync("oci", "spec");
        Assert.True(generated.ExitCode == 0, ctr.Explain(generated));
        var spec = JsonNode.Parse(generated.StdoutText)!.AsObject();
        spec["process"]!["args"] = new JsonArray("/app.wasm");
        spec["process"]!["terminal"] = false;
        spec["root"] = new JsonObject { ["path"] = rootfs, ["readonly"] = false };
        var specPath = Path.Combine(containerd.RunDir, $"{id}-config.json");
        await File.WriteAllTextAsync(specPath, spec.ToJsonString());
        return await ctr.RunAsync(["run", "--rm", "--config", specPath, "--runtime", Ctr.WasmRuntime, id]);
    }

    private static async Task AssertLogAsync(ContainerdFixture containerd, string text) =>
        await UntilAsync(() => containerd.LogTail(5000).Contains(text, StringComparison.Ordinal), $"containerd's log never said \"{text}\"\n{containerd.LogTail()}");

    private static async Task UntilAsync(Func<bool> condition, string failure)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, failure);
            await Task.Delay(100);
        }
    }

    private static string[] Argv(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline").Split('\0');
        }
        catch (IOException)
        {
            return [];
        }
    }

    private static string Comm(int pid) => File.ReadAllText($"/proc/{pid}/comm").Trim();

    /// <summary>A private containerd whose environment sets WASMKATA_SPARE_SECONDS (unset when null).</summary>
    private sealed class SpareContainerd(string? spareSeconds) : ContainerdFixture("spare", null), IAsyncDisposable
    {
        protected override IEnumerable<string> ContainerdEnvironment => spareSeconds is null ? [] : [$"WASMKATA_SPARE_SECONDS={spareSeconds}"];

        public static async Task<SpareContainerd> StartAsync(string? spareSeconds)
        {
            var containerd = new SpareContainerd(spareSeconds);
            await containerd.InitializeAsync();
            return containerd;
        }

        async ValueTask IAsyncDisposable.DisposeAsync() => await DisposeAsync();
    }
}
