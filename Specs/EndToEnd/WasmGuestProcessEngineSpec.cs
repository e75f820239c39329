using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using WasmKata.Specs.Engine;
using Xunit;
using Xunit.Abstractions;

namespace WasmKata.Specs.EndToEnd;

/// <summary>
/// guest_isolation = "process" and the engine's own services, through a real containerd: guest hosts run the code of
/// the daemon's compile cache (handed over as a read-only descriptor, never compiled in the guest host), report the
/// guest's linear memory for metrics over the control pipe, and make outgoing HTTP for a component that asked for it
/// (refused with the engine's message to one that did not, never a seccomp kill).
/// </summary>
[Collection(EndToEndCollection.Name)]
[Trait("Category", "EndToEnd")]
[Trait("Requires", "root")]
[Trait("Runtime", "wasmkata")]
public sealed class WasmGuestProcessEngineSpec
{
    private const string AskForHttp = "io.containerd.wasmkata.v2.outgoing-http=true";
    private const long MiB = 1 << 20;

    // fetch.component is 13 MB of JavaScript engine: its first compile takes most of a minute on a busy machine.
    private static readonly TimeSpan HttpTimeout = TimeSpan.FromMinutes(4);

    private readonly ContainerdFixture _fixture;
    private readonly ITestOutputHelper _output;

    public WasmGuestProcessEngineSpec(ContainerdFixture fixture, ITestOutputHelper output)
    {
        _fixture = fixture;
        _output = output;
    }

    private Ctr Ctr => _fixture.Ctr;

    [Fact]
    public async Task A_second_start_of_a_module_must_run_the_cache_entry_the_first_one_compiled()
    {
        var module = GeneratedModules.Wasm(200, Guid.NewGuid().ToString("N"));
        var digest = Convert.ToHexStringLower(SHA256.HashData(module));
        var image = new WasmImage("hello") { Binaries = new Dictionary<string, byte[]> { ["/gen.wasm"] = module } };
        var (config, cache) = NewCache();

        var first = await _fixture.RunWasmAsync(image, "gpc-first", ["--rm", "--runtime-config-path", config], ["/gen.wasm"]);
        var clock = Stopwatch.StartNew();
        var second = await _fixture.RunWasmAsync(image, "gpc-second", ["--rm", "--runtime-config-path", config], ["/gen.wasm"]);
        _output.WriteLine($"second start: {clock.ElapsedMilliseconds} ms");

        Assert.True(first.ExitCode == 0 && second.ExitCode == 0, Ctr.Explain(first) + Ctr.Explain(second) + _fixture.LogTail());
        Assert.True(LogLines(cache, digest, ": compiled ") == 1, $"expected one compile, by the first daemon\n{_fixture.LogTail(80)}");
        Assert.True(LogLines(cache, digest, "goes to a guest host as its \"Cranelift\" entry") == 2, $"expected both guest hosts to get the entry\n{_fixture.LogTail(80)}");
        Assert.Single(Directory.GetFiles(cache, digest + "-*.cwasm"));
    }

    [Fact]
    public async Task A_component_must_run_from_the_cache_entry_in_a_guest_host_too()
    {
        var digest = Convert.ToHexStringLower(SHA256.HashData(_fixture.Images.GuestBytes("readfile.component")));
        var image = new WasmImage("readfile.component") { Files = new Dictionary<string, string> { ["/x"] = "x\n" } };
        var (config, cache) = NewCache();

        var first = await _fixture.RunWasmAsync(image, "gpc-comp", ["--rm", "--runtime-config-path", config], ["/app.wasm", "/x"]);
        var second = await _fixture.RunWasmAsync(image, "gpc-comp", ["--rm", "--runtime-config-path", config], ["/app.wasm", "/x"]);

        Assert.True(first.ExitCode == 0 && first.StdoutText == "x\n", Ctr.Explain(first) + _fixture.LogTail());
        Assert.True(second.ExitCode == 0 && second.StdoutText == "x\n", Ctr.Explain(second) + _fixture.LogTail());
        var entry = Assert.Single(Directory.GetFiles(cache, digest + "-*.cwasm"));
        Assert.Equal("WKCCOMP2", System.Text.Encoding.ASCII.GetString(File.ReadAllBytes(entry), 0, 8));
        Assert.True(LogLines(cache, digest, ": compiled ") == 1, _fixture.LogTail(80));
        Assert.True(LogLines(cache, digest, "goes to a guest host as its \"Cranelift\" entry") == 2, _fixture.LogTail(80));
    }

    [Fact]
    public async Task Metrics_must_show_the_guests_linear_memory_not_the_guest_hosts_and_answer_while_it_is_paused()
    {
        var (config, _) = NewCache();
        var image = await _fixture.Images.WasmAsync(new WasmImage("grow"));
        await using var container = await DetachedContainer.StartAsync(Ctr, Ctr.WasmRuntime, image, "gpc-metrics",
            ["--runtime-config-path", config, "--memory-limit", (4 * MiB).ToString(CultureInfo.InvariantCulture)], "/app.wasm", "8", "600");
        var four = (4 * MiB).ToString(CultureInfo.InvariantCulture);

        var metrics = await ResourceProbe.MetricsUntilAsync(Ctr, container.Id, m => m.GetValueOrDefault("memory.usage_in_bytes") == four, TimeSpan.FromSeconds(10));
        _output.WriteLine(string.Join('\n', metrics.Select(m => $"{m.Key} {m.Value}")));

        Assert.Equal(four, metrics["memory.usage_in_bytes"]);
        Assert.True(ulong.Parse(metrics["cpuacct.usage"], CultureInfo.InvariantCulture) > 0, "cpuacct.usage is 0");
        // The guest host itself is tens of MiB: the figure is not its RSS.
        var pid = await ResourceProbe.TaskPidAsync(Ctr, container.Id);
        var rssKib = long.Parse(File.ReadAllLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal))
            .Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
        Assert.True(rssKib * 1024 > 8 * MiB, $"the guest host's RSS is {rssKib} KiB");

        // A stopped guest host cannot answer: the last figure comes at once.
        var pause = await Ctr.RunAsync("task", "pause", container.Id);
        Assert.True(pause.ExitCode == 0, Ctr.Explain(pause));
        var clock = Stopwatch.StartNew();
        var paused = await ResourceProbe.MetricsAsync(Ctr, container.Id);
        _output.WriteLine($"metrics of the paused guest host: {clock.ElapsedMilliseconds} ms");
        Assert.Equal(four, paused["memory.usage_in_bytes"]);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(3), $"metrics took {clock.ElapsedMilliseconds} ms");
        var resume = await Ctr.RunAsync("task", "resume", container.Id);
        Assert.True(resume.ExitCode == 0, Ctr.Explain(resume));
    }

    [Fact]
    public async Task A_component_that_asks_must_fetch_from_a_server_in_its_pods_network_from_a_guest_host()
    {
        await using var server = await NetnsHttpServer.StartAsync("hello from the pod's network");
        var (config, _) = NewCache();

        var run = await _fixture.RunWasmAsync(new WasmImage("fetch.component"), "gpc-http",
            options: ["--rm", "--runtime-config-path", config, "--with-ns", $"network:{server.NamespacePath}", "--annotation", AskForHttp],
            command: ["/app.wasm", server.Url], timeout: HttpTimeout);

        Assert.True(run.ExitCode == 0, Ctr.Explain(run) + _fixture.LogTail());
        Assert.True(run.StdoutText == "status 200: hello from the pod's network\n", Ctr.Explain(run));
        Assert.Equal(1, server.Requests);
    }

    [Fact]
    public async Task Without_the_annotation_a_components_request_must_trap_saying_http_is_off_not_kill_its_guest_host()
    {
        await using var server = await NetnsHttpServer.StartAsync("must not be read\n");
        var (config, _) = NewCache();

        var run = await _fixture.RunWasmAsync(new WasmImage("fetch.component"), "gpc-nohttp",
            options: ["--rm", "--runtime-config-path", config, "--with-ns", $"network:{server.NamespacePath}"],
            command: ["/app.wasm", server.Url], timeout: HttpTimeout);

        // 134 is the guest's trap; a seccomp kill of the guest host would be 255 with "SIGSYS" in the log.
        Assert.True(run.ExitCode == 134, Ctr.Explain(run) + _fixture.LogTail());
        Assert.Contains("wasmkata: outgoing HTTP is off for this container (it asks with the annotation io.containerd.wasmkata.v2.outgoing-http=true)", run.Stderr);
        Assert.Equal(0, server.Requests);
    }

    // A configuration of its own: process isolation with unlisted calls killing the guest host, and an empty cache.
    private (string Config, string Cache) NewCache()
    {
        var cache = Path.Combine(_fixture.RunDir, "gp-cache-" + Guid.NewGuid().ToString("N")[..8]);
        var config = cache + ".toml";
        File.WriteAllText(config,
            $"[wasmkata]\nguest_isolation = \"process\"\nguest_host_seccomp = \"kill\"\n[wasmkata.engine]\ncompile_cache_dir = \"{cache}\"\n");
        return (config, cache);
    }

    // containerd copies each shim's log into its own, one line per entry; the cache directory tells this spec's apart.
    private int LogLines(string cache, string digest, string what)
    {
        using var stream = new FileStream(_fixture.LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream);
        var count = 0;
        while (reader.ReadLine() is { } line)
        {
            if (line.Contains(cache, StringComparison.Ordinal) && line.Contains(digest, StringComparison.Ordinal) && line.Contains(what, StringComparison.Ordinal))
                count++;
        }
        return count;
    }
}
