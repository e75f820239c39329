using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using WasmKata.Core.Protos.Cri;
using WasmKata.Core.Protos.SandboxApi;
using WasmKata.Core.Protos.TaskApi;
using WasmKata.Shim.Service;
using WasmKata.Shim.Ttrpc;
using WasmKata.Specs.Actors;
using Xunit;

namespace WasmKata.Specs.Shim;

/// <summary>
/// The sandbox API (containerd 2.x, <c>sandboxer = "shim"</c>) over the real ttrpc server and sandbox actor, in the call
/// order CRI uses: the sandbox lives apart from its containers and holds the shim until ShutdownSandbox.
/// </summary>
public sealed class SandboxApiWireSpec : IAsyncLifetime
{
    private static readonly TimeSpan Answer = TimeSpan.FromSeconds(10);
    private const string Sandbox = SandboxService.ServiceName;
    private static readonly string Task = TaskService.ServiceNames[0];

    private readonly TaskCompletionSource _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly string _bundle = Directory.CreateTempSubdirectory("wk-sandbox-bundle-").FullName;
    private InProcessTaskApi _api = null!;
    private TtrpcClient _client = null!;

    public async Task InitializeAsync()
    {
        _api = new InProcessTaskApi("sandboxapi", () => _exited.TrySetResult());
        _client = await TtrpcClient.ConnectAsync(_api.SocketPath).WaitAsync(Answer);
    }

    public async Task DisposeAsync()
    {
        await _client.DisposeAsync();
        await _api.DisposeAsync();
        Directory.Delete(_bundle, recursive: true);
    }

    // A pod on the node's network and IPC: no namespace to make, so the spec needs no netns.
    private CreateSandboxRequest CreateRequest(string id) => new()
    {
        SandboxId = id,
        BundlePath = _bundle,
        Options = new Any
        {
            TypeUrl = "runtime.v1.PodSandboxConfig",
            Value = new PodSandboxConfig
            {
                Hostname = "pod",
                Linux = new LinuxPodSandboxConfig
                {
                    SecurityContext = new LinuxSandboxSecurityContext { NamespaceOptions = new NamespaceOption { Network = NamespaceMode.Node, Ipc = NamespaceMode.Node } },
                },
            }.ToByteString(),
        },
    };

    private Task<TResponse> Call<TRequest, TResponse>(string method, TRequest request)
        where TRequest : IMessage<TRequest>, new()
        where TResponse : IMessage<TResponse>, new() =>
        _client.CallAsync<TRequest, TResponse>(Sandbox, method, request).WaitAsync(Answer);

    [Fact]
    public async Task A_sandbox_must_go_created_ready_stopped_and_only_shutdown_must_let_the_shim_exit()
    {
        await Call<CreateSandboxRequest, CreateSandboxResponse>("CreateSandbox", CreateRequest("pod1"));
        var created = await Call<SandboxStatusRequest, SandboxStatusResponse>("SandboxStatus", new SandboxStatusRequest { SandboxId = "pod1" });
        Assert.Equal("SANDBOX_NOTREADY", created.State);

        var started = await Call<StartSandboxRequest, StartSandboxResponse>("StartSandbox", new StartSandboxRequest { SandboxId = "pod1" });
        Assert.Equal((uint)Environment.ProcessId, started.Pid);
        Assert.InRange(started.CreatedAt.ToDateTimeOffset(), DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow);
        var ready = await Call<SandboxStatusRequest, SandboxStatusResponse>("SandboxStatus", new SandboxStatusRequest { SandboxId = "pod1", Verbose = true });
        Assert.Equal(("pod1", "SANDBOX_READY", (uint)Environment.ProcessId, "0"), (ready.SandboxId, ready.State, ready.Pid, ready.Info["containers"]));
        Assert.Null(ready.ExitedAt);
        var platform = await Call<PlatformRequest, PlatformResponse>("Platform", new PlatformRequest { SandboxId = "pod1" });
        Assert.Equal(("linux", SandboxService.GoArchitecture()), (platform.Platform.Os, platform.Platform.Architecture));
        await Call<PingRequest, PingResponse>("PingSandbox", new PingRequest { SandboxId = "pod1" });

        // CRI waits for the sandbox's end right after starting it: the wait must block until StopSandbox.
        var wait = Call<WaitSandboxRequest, WaitSandboxResponse>("WaitSandbox", new WaitSandboxRequest { SandboxId = "pod1" });
        await System.Threading.Tasks.Task.Delay(200);
        Assert.False(wait.IsCompleted);
        // With no container left a task Shutdown would end a plain shim: a sandbox holds it.
        await _client.CallAsync<ShutdownRequest, Empty>(Task, "Shutdown", new ShutdownRequest { Id = "pod1" }).WaitAsync(Answer);
        Assert.False(_exited.Task.IsCompleted);

        await Call<StopSandboxRequest, StopSandboxResponse>("StopSandbox", new StopSandboxRequest { SandboxId = "pod1" });
        var exit = await wait;
        var stopped = await Call<SandboxStatusRequest, SandboxStatusResponse>("SandboxStatus", new SandboxStatusRequest { SandboxId = "pod1" });
        Assert.Equal(0u, exit.ExitStatus);
        Assert.Equal("SANDBOX_NOTREADY", stopped.State);
        Assert.Equal(exit.ExitedAt, stopped.ExitedAt);
        Assert.False(_exited.Task.IsCompleted);

        await Call<ShutdownSandboxRequest, ShutdownSandboxResponse>("ShutdownSandbox", new ShutdownSandboxRequest { SandboxId = "pod1" });
        await _exited.Task.WaitAsync(Answer);
    }

    [Fact]
    public async Task Another_sandbox_id_must_be_not_found_and_a_second_create_already_exists()
    {
        await Call<CreateSandboxRequest, CreateSandboxResponse>("CreateSandbox", CreateRequest("pod1"));

        var again = await Assert.ThrowsAsync<TtrpcException>(() => Call<CreateSandboxRequest, CreateSandboxResponse>("CreateSandbox", CreateRequest("pod1")));
        var other = await Assert.ThrowsAsync<TtrpcException>(() => Call<CreateSandboxRequest, CreateSandboxResponse>("CreateSandbox", CreateRequest("pod2")));
        var missing = await Assert.ThrowsAsync<TtrpcException>(() =>
            Call<WaitSandboxRequest, WaitSandboxResponse>("WaitSandbox", new WaitSandboxRequest { SandboxId = "pod2" }));

        Assert.Equal(StatusCode.AlreadyExists, again.Code);
        Assert.Equal(StatusCode.FailedPrecondition, other.Code);
        Assert.Contains("serves sandbox pod1", other.Message);
        Assert.Equal(StatusCode.NotFound, missing.Code);
        Assert.Equal("sandbox pod2: not found", missing.Message);
    }

    [Fact]
    public async Task Bad_options_must_be_invalid_and_leave_no_sandbox_behind()
    {
        var request = CreateRequest("pod1");
        request.Options = new Any { TypeUrl = "runtime.v1.PodSandboxConfig", Value = ByteString.CopyFrom(0xff, 0xff) };

        var refused = await Assert.ThrowsAsync<TtrpcException>(() => Call<CreateSandboxRequest, CreateSandboxResponse>("CreateSandbox", request));
        var status = await Assert.ThrowsAsync<TtrpcException>(() =>
            Call<SandboxStatusRequest, SandboxStatusResponse>("SandboxStatus", new SandboxStatusRequest { SandboxId = "pod1" }));

        Assert.Equal(StatusCode.InvalidArgument, refused.Code);
        Assert.Contains("PodSandboxConfig", refused.Message);
        Assert.Equal(StatusCode.NotFound, status.Code);
        // The server still serves, and a good create goes through.
        await Call<CreateSandboxRequest, CreateSandboxResponse>("CreateSandbox", CreateRequest("pod1"));
    }

    [Fact]
    public async Task ShutdownSandbox_after_a_failed_create_must_let_the_shim_exit()
    {
        var request = CreateRequest("pod1");
        request.NetnsPath = "/nonexistent/netns";
        request.Options = null;

        var refused = await Assert.ThrowsAsync<TtrpcException>(() => Call<CreateSandboxRequest, CreateSandboxResponse>("CreateSandbox", request));
        Assert.Equal(StatusCode.InvalidArgument, refused.Code);
        Assert.Contains("/nonexistent/netns", refused.Message);
        Assert.False(_exited.Task.IsCompleted);

        // What containerd does when CreateSandbox fails: ShutdownSandbox, then it closes the connection.
        await Call<ShutdownSandboxRequest, ShutdownSandboxResponse>("ShutdownSandbox", new ShutdownSandboxRequest { SandboxId = "pod1" });
        await _exited.Task.WaitAsync(Answer);
    }

    [Fact]
    public async Task A_stopped_sandbox_must_refuse_new_containers_and_report_metrics_under_its_id()
    {
        await Call<CreateSandboxRequest, CreateSandboxResponse>("CreateSandbox", CreateRequest("pod1"));
        await Call<StartSandboxRequest, StartSandboxResponse>("StartSandbox", new StartSandboxRequest { SandboxId = "pod1" });
        var metrics = await Call<SandboxMetricsRequest, SandboxMetricsResponse>("SandboxMetrics", new SandboxMetricsRequest { SandboxId = "pod1" });
        await Call<StopSandboxRequest, StopSandboxResponse>("StopSandbox", new StopSandboxRequest { SandboxId = "pod1" });
        using var bundle = new TestBundle(Wat.Trap);

        var refused = await Assert.ThrowsAsync<TtrpcException>(() => _client.CallAsync<CreateTaskRequest, CreateTaskResponse>(
            Task, "Create", new CreateTaskRequest { Id = "c1", Bundle = bundle.Path }).WaitAsync(Answer));

        Assert.Equal("pod1", metrics.Metrics.Id);
        Assert.StartsWith("io.containerd.cgroups.v", metrics.Metrics.Data.TypeUrl);
        Assert.Equal(StatusCode.FailedPrecondition, refused.Code);
        Assert.Contains("sandbox pod1 is stopped", refused.Message);
    }
}
