using System.Text.Json.Nodes;
using WasmKata.Core.Protos.TaskApi;
using WasmKata.Shim.Ttrpc;
using Xunit;
using Xunit.Abstractions;
using ProtoMount = WasmKata.Core.Protos.Types.Mount;

namespace WasmKata.Specs.EndToEnd;

/// <summary>
/// Bad Create requests sent straight to the real shim binary over its socket, as containerd would never send them:
/// each gets a clear InvalidArgument or NotFound, leaves no mount and no state behind, and the shim serves on.
/// </summary>
[Trait("Category", "Shim")]
[Trait("Requires", "root")]
[Trait("Runtime", "wasmkata")]
public sealed class ShimBadRequestSpec(ITestOutputHelper output) : IAsyncLifetime
{
    private ShimUnderTest _shim = null!;

    public async Task InitializeAsync() => _shim = await ShimUnderTest.StartAsync("badreq-sandbox");

    public async Task DisposeAsync() => await _shim.DisposeAsync();

    public static TheoryData<string> Cases => new()
    {
        "id with a slash", "id of dot dot", "id with a NUL", "relative bundle", "bundle with a NUL", "missing bundle",
        "malformed config.json", "config.json of the wrong shape", "rootfs mount source missing", "spec bind mount source missing",
        "module climbing out with dot dot", "module through an absolute symlink", "module through a symlinked directory",
        "module missing after a good rootfs mount",
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task A_bad_create_must_get_a_clear_error_leave_nothing_and_the_shim_must_serve_on(string name)
    {
        var (request, code, says) = Case(name);

        var failure = await Assert.ThrowsAsync<TtrpcException>(() => _shim.CallAsync<CreateTaskRequest, CreateTaskResponse>("Create", request));
        output.WriteLine($"{name}: {failure.Code}: {failure.Message}");

        Assert.True(failure.Code == code, $"{name}: expected {code}, got {failure.Code}: {failure.Message}");
        Assert.Contains(says, failure.Message, StringComparison.Ordinal);
        Assert.Empty(ContainerdFixture.MountsUnder(_shim.Root));
        Assert.False(Directory.Exists(_shim.StateDir) && Directory.EnumerateFileSystemEntries(_shim.StateDir).Any(),
            $"state left in {_shim.StateDir}: {string.Join(", ", Directory.Exists(_shim.StateDir) ? Directory.EnumerateFileSystemEntries(_shim.StateDir) : [])}");
        var missing = await Assert.ThrowsAsync<TtrpcException>(() => _shim.CallAsync<StateRequest, StateResponse>("State", new StateRequest { Id = request.Id }));
        Assert.Equal(StatusCode.NotFound, missing.Code);
        await AssertServesAsync();
    }

    private (CreateTaskRequest Request, StatusCode Code, string Says) Case(string name)
    {
        var id = "bad-" + Guid.NewGuid().ToString("N")[..8];
        var hello = new Dictionary<string, string> { ["/app.wasm"] = "hello" };
        string Bundle(JsonObject spec, IReadOnlyDictionary<string, string>? guests = null) => _shim.NewBundle(id, spec, guests ?? hello);
        CreateTaskRequest Request(string bundle) => _shim.CreateRequest(id, bundle);
        CreateTaskRequest WithId(string bad)
        {
            var request = Request(Bundle([]));
            request.Id = bad;
            return request;
        }

        JsonObject Args(params string[] args) => new() { ["process"] = new JsonObject { ["args"] = new JsonArray([.. args.Select(a => JsonValue.Create(a))]), ["cwd"] = "/" } };
        var outside = Directory.CreateDirectory(Path.Combine(_shim.Root, "outside", id)).FullName;
        File.Copy(Path.Combine(ShimUnderTest.GuestsDir, "hello.wasm"), Path.Combine(outside, "escape.wasm"));

        switch (name)
        {
            case "id with a slash":
                return (WithId("a/../b"), StatusCode.InvalidArgument, "invalid container id");
            case "id of dot dot":
                return (WithId(".."), StatusCode.InvalidArgument, "invalid container id");
            case "id with a NUL":
                return (WithId("x\0y"), StatusCode.InvalidArgument, "invalid container id");
            case "relative bundle":
                return (Request("bundles/" + id), StatusCode.InvalidArgument, "bundle must be an absolute path");
            case "bundle with a NUL":
                return (Request(Bundle([]) + "\0/x"), StatusCode.InvalidArgument, "bundle must be an absolute path");
            case "missing bundle":
                return (Request(Path.Combine(_shim.Root, "no-such-bundle")), StatusCode.InvalidArgument, "config.json");
            case "malformed config.json":
                var broken = Bundle([]);
                File.WriteAllText(Path.Combine(broken, "config.json"), "{ \"process\": { \"args\": [\"/app.wasm\" ");
                return (Request(broken), StatusCode.InvalidArgument, "config.json");
            case "config.json of the wrong shape":
                var shaped = Bundle([]);
                File.WriteAllText(Path.Combine(shaped, "config.json"), "{ \"process\": { \"args\": \"/app.wasm\" } }");
                return (Request(shaped), StatusCode.InvalidArgument, "config.json");
            case "rootfs mount source missing":
                var request = Request(Bundle([], new Dictionary<string, string>()));
                request.Rootfs.Add(new ProtoMount { Type = "bind", Source = Path.Combine(_shim.Root, "no-such-layer"), Options = { "rbind", "ro" } });
                return (request, StatusCode.NotFound, "no-such-layer");
            case "spec bind mount source missing":
                var mounts = new JsonArray(new JsonObject
                {
                    ["destination"] = "/data",
                    ["type"] = "bind",
                    ["source"] = Path.Combine(_shim.Root, "no-such-data"),
                    ["options"] = new JsonArray("rbind"),
                });
                return (Request(Bundle(new JsonObject { ["mounts"] = mounts })), StatusCode.NotFound, "no-such-data");
            case "module climbing out with dot dot":
                return (Request(Bundle(Args($"../../../../..{outside}/escape.wasm"))), StatusCode.NotFound, "not found in the container's rootfs");
            case "module through an absolute symlink":
                var linked = Bundle(Args("/escape.wasm"));
                File.CreateSymbolicLink(Path.Combine(linked, "rootfs", "escape.wasm"), Path.Combine(outside, "escape.wasm"));
                return (Request(linked), StatusCode.NotFound, "not found in the container's rootfs");
            case "module through a symlinked directory":
                var dir = Bundle(Args("/out/escape.wasm"));
                File.CreateSymbolicLink(Path.Combine(dir, "rootfs", "out"), outside);
                return (Request(dir), StatusCode.NotFound, "not found in the container's rootfs");
            case "module missing after a good rootfs mount":
                var layer = Directory.CreateDirectory(Path.Combine(_shim.Root, "layer-" + id)).FullName;
                var mounted = Request(Bundle(Args("/missing.wasm"), new Dictionary<string, string>()));
                mounted.Rootfs.Add(new ProtoMount { Type = "bind", Source = layer, Options = { "rbind", "ro" } });
                return (mounted, StatusCode.NotFound, "missing.wasm");
            default:
                throw new ArgumentException(name);
        }
    }

    [Fact]
    public async Task A_fuzz_run_against_the_real_shim_must_leave_it_serving_with_fds_threads_and_memory_bounded()
    {
        // A running container keeps the fuzzer's Shutdown requests from ending the shim.
        var anchor = "anchor-" + Guid.NewGuid().ToString("N")[..8];
        var bundle = _shim.NewBundle(anchor, new JsonObject { ["process"] = new JsonObject { ["args"] = new JsonArray("/app.wasm", "3600"), ["cwd"] = "/" } },
            new Dictionary<string, string> { ["/app.wasm"] = "sleep" });
        await _shim.CallAsync<CreateTaskRequest, CreateTaskResponse>("Create", _shim.CreateRequest(anchor, bundle));
        await _shim.CallAsync<StartRequest, StartResponse>("Start", new StartRequest { Id = anchor });
        await AssertServesAsync();
        var (fds, threads, rss) = (_shim.FdCount, _shim.ThreadNames.Count, _shim.RssKib);

        var run = new WasmKata.Specs.Shim.FuzzRun(_shim.SocketPath, WasmKata.Specs.Shim.FuzzRun.SeedFromEnvironment(),
            TimeSpan.FromSeconds(Environment.GetEnvironmentVariable("WASMKATA_SHIM_FUZZ_SECONDS") is { Length: > 0 } b ? double.Parse(b) : 5));
        await run.RunAsync();
        run.Report(output);
        run.AssertSane(200);

        await AssertServesAsync();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (_shim.FdCount > fds + 2 && DateTime.UtcNow < deadline)
            await Task.Delay(100);
        var after = (Fds: _shim.FdCount, Threads: _shim.ThreadNames.Count, Rss: _shim.RssKib);
        output.WriteLine($"shim {_shim.Pid}: {fds} fds, {threads} threads, RSS {rss >> 10} MiB before; {after.Fds}, {after.Threads}, {after.Rss >> 10} MiB after");
        Assert.True(after.Fds <= fds + 2, $"fds {fds} -> {after.Fds} {run.Because}");
        Assert.True(after.Threads <= threads + 32, $"threads {threads} -> {after.Threads} {run.Because}");
        Assert.True(after.Rss <= rss + (64 << 10), $"RSS {rss} -> {after.Rss} KiB {run.Because}");
        Assert.True(_shim.IsRunning, "the shim exited");
        var state = await _shim.CallAsync<StateRequest, StateResponse>("State", new StateRequest { Id = anchor });
        Assert.Equal(WasmKata.Core.Protos.Types.Status.Running, state.Status);
        await _shim.CallAsync<KillRequest, Google.Protobuf.WellKnownTypes.Empty>("Kill", new KillRequest { Id = anchor, Signal = 9 });
        Assert.Equal(137u, (await _shim.CallAsync<WaitRequest, WaitResponse>("Wait", new WaitRequest { Id = anchor })).ExitStatus);
        await _shim.CallAsync<DeleteRequest, DeleteResponse>("Delete", new DeleteRequest { Id = anchor });
    }

    /// <summary>A good container still runs start to finish on this shim.</summary>
    private async Task AssertServesAsync()
    {
        var id = "good-" + Guid.NewGuid().ToString("N")[..8];
        var bundle = _shim.NewBundle(id, [], new Dictionary<string, string> { ["/app.wasm"] = "hello" });
        await _shim.CallAsync<CreateTaskRequest, CreateTaskResponse>("Create", _shim.CreateRequest(id, bundle));
        await _shim.CallAsync<StartRequest, StartResponse>("Start", new StartRequest { Id = id });
        var exited = await _shim.CallAsync<WaitRequest, WaitResponse>("Wait", new WaitRequest { Id = id });
        Assert.Equal(0u, exited.ExitStatus);
        Assert.Equal("hello from wasm\n", await File.ReadAllTextAsync(_shim.OutputPath(id)));
        await _shim.CallAsync<DeleteRequest, DeleteResponse>("Delete", new DeleteRequest { Id = id });
    }
}
