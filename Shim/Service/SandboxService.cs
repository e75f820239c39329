using System.Runtime.InteropServices;
using Akka.Actor;
using Google.Protobuf.WellKnownTypes;
using WasmKata.Actors;
using WasmKata.Core.Protos.SandboxApi;
using WasmKata.Shim.Errors;
using WasmKata.Shim.Ttrpc;
using static WasmKata.Actors.Sandbox.PodSandboxProtocol;
using static WasmKata.Actors.TaskProtocol;
using Platform = WasmKata.Core.Protos.Types.Platform;

namespace WasmKata.Shim.Service;

/// <summary>
/// The sandbox API containerd 2.x calls for a runtime handler with <c>sandboxer = "shim"</c>, served on the task API's
/// socket: each RPC one command asked of the sandbox actor, as <see cref="TaskService"/> does. CreateSandbox takes the
/// lease <c>start</c> left for the sandbox; ShutdownSandbox lets the daemon exit (now, or after an orderly stop when
/// containers are left).
/// </summary>
internal sealed class SandboxService(IActorRef sandbox, IShimGate gate)
{
    /// <summary>The one name containerd dials (2.0 to 2.3).</summary>
    public const string ServiceName = "containerd.runtime.sandbox.v1.Sandbox";

    /// <summary>Registers every RPC of the sandbox API on <paramref name="server"/>.</summary>
    public void Register(TtrpcServer server)
    {
        server.Service(ServiceName)
            .Register<CreateSandboxRequest, CreateSandboxResponse>("CreateSandbox", Create)
            .Register<StartSandboxRequest, StartSandboxResponse>("StartSandbox", Start)
            .Register<PlatformRequest, PlatformResponse>("Platform", Platform)
            .Register<StopSandboxRequest, StopSandboxResponse>("StopSandbox", Stop)
            .Register<WaitSandboxRequest, WaitSandboxResponse>("WaitSandbox", Wait)
            .Register<SandboxStatusRequest, SandboxStatusResponse>("SandboxStatus", Status)
            .Register<PingRequest, PingResponse>("PingSandbox", Ping)
            .Register<ShutdownSandboxRequest, ShutdownSandboxResponse>("ShutdownSandbox", Shutdown)
            .Register<SandboxMetricsRequest, SandboxMetricsResponse>("SandboxMetrics", Metrics);
    }

    private async Task<CreateSandboxResponse> Create(CreateSandboxRequest r, TtrpcCallContext call)
    {
        if (r.Rootfs.Count > 0)
            throw new TtrpcException(StatusCode.Unimplemented, "a sandbox rootfs is not supported: wasm guests bring their own in each container");
        IReadOnlyList<Linux.Namespaces.NamespaceRequest> namespaces;
        string hostname;
        try
        {
            (namespaces, hostname) = SandboxOptions.Read(r.Options, r.NetnsPath);
        }
        catch (ArgumentException e)
        {
            throw FailureMapping.ToException(new CommandFailed(Core.FailureCode.InvalidArgument, $"sandbox {r.SandboxId}: {e.Message}"));
        }
        await gate.CreateAsync(r.SandboxId, r.BundlePath, () => Ask<Done>(new CreatePodSandbox(r.SandboxId, r.BundlePath, namespaces, hostname), call));
        return new CreateSandboxResponse();
    }

    private async Task<StartSandboxResponse> Start(StartSandboxRequest r, TtrpcCallContext call)
    {
        var started = await Ask<PodSandboxStarted>(new StartPodSandbox(r.SandboxId), call);
        return new StartSandboxResponse { Pid = started.Pid, CreatedAt = Timestamp.FromDateTimeOffset(started.CreatedAt) };
    }

    private async Task<PlatformResponse> Platform(PlatformRequest r, TtrpcCallContext call)
    {
        // The sandbox must exist; what it runs on is the host (CRI needs "linux" for stats, and the host's
        // architecture to make the containers' specs and pick images).
        await Ask<PodSandboxView>(new QueryPodSandbox(r.SandboxId), call);
        return new PlatformResponse { Platform = new Platform { Os = "linux", Architecture = GoArchitecture() } };
    }

    private async Task<StopSandboxResponse> Stop(StopSandboxRequest r, TtrpcCallContext call)
    {
        // CRI stops every container first and sends timeout 0: what is left is killed at once.
        await Ask<Done>(new StopPodSandbox(r.SandboxId), call);
        return new StopSandboxResponse();
    }

    private async Task<WaitSandboxResponse> Wait(WaitSandboxRequest r, TtrpcCallContext call)
    {
        var exited = await Ask<PodSandboxExited>(new WaitPodSandbox(r.SandboxId), call);
        return new WaitSandboxResponse { ExitStatus = exited.ExitStatus, ExitedAt = Timestamp.FromDateTimeOffset(exited.ExitedAt) };
    }

    private async Task<SandboxStatusResponse> Status(SandboxStatusRequest r, TtrpcCallContext call)
    {
        var view = await Ask<PodSandboxView>(new QueryPodSandbox(r.SandboxId), call);
        var response = new SandboxStatusResponse
        {
            SandboxId = view.SandboxId,
            Pid = view.Pid,
            State = view.State,
            CreatedAt = Timestamp.FromDateTimeOffset(view.CreatedAt),
            ExitedAt = view.ExitedAt is { } at ? Timestamp.FromDateTimeOffset(at) : null,
        };
        if (r.Verbose)
            response.Info["containers"] = view.Containers.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return response;
    }

    private async Task<PingResponse> Ping(PingRequest r, TtrpcCallContext call)
    {
        await Ask<PodSandboxView>(new QueryPodSandbox(r.SandboxId), call);
        return new PingResponse();
    }

    private async Task<ShutdownSandboxResponse> Shutdown(ShutdownSandboxRequest r, TtrpcCallContext call)
    {
        await Ask<Done>(new ShutdownPodSandbox(r.SandboxId), call);
        // The gate releases the socket before this reply leaves when the daemon is to exit.
        await gate.SandboxShutDownAsync(r.SandboxId, call.CancellationToken);
        return new ShutdownSandboxResponse();
    }

    private async Task<SandboxMetricsResponse> Metrics(SandboxMetricsRequest r, TtrpcCallContext call)
    {
        await Ask<PodSandboxView>(new QueryPodSandbox(r.SandboxId), call);
        var figures = await Ask<SandboxStatsView>(new QuerySandboxStats(), call);
        // The whole sandbox is the shim's host cgroup: its figures stand for the sandbox's own.
        var whole = new StatsView(figures.MemoryUsageBytes ?? 0, figures.MemoryLimitBytes, (ulong)Math.Max(0, figures.CpuUsageNs ?? 0));
        return new SandboxMetricsResponse
        {
            Metrics = new Core.Protos.Types.Metric
            {
                Timestamp = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow),
                Id = r.SandboxId,
                Data = StatsMetrics.Pack(whole, figures, TaskService.HostCgroupMode.Value),
            },
        };
    }

    /// <summary>The host's architecture in Go's names, which containerd's platform matching uses.</summary>
    internal static string GoArchitecture() => RuntimeInformation.OSArchitecture switch
    {
        Architecture.X64 => "amd64",
        Architecture.Arm64 => "arm64",
        Architecture.X86 => "386",
        Architecture.Arm => "arm",
        Architecture.S390x => "s390x",
        Architecture.Ppc64le => "ppc64le",
        Architecture.RiscV64 => "riscv64",
        Architecture.LoongArch64 => "loong64",
        var other => other.ToString().ToLowerInvariant(),
    };

    private async Task<T> Ask<T>(object command, TtrpcCallContext call)
    {
        var reply = await sandbox.Ask<object>(command, Timeout.InfiniteTimeSpan, call.CancellationToken);
        return reply switch
        {
            T ok => ok,
            CommandFailed failure => throw FailureMapping.ToException(failure),
            _ => throw new TtrpcException(StatusCode.Internal, $"unexpected reply {reply.GetType().Name} to {command.GetType().Name}"),
        };
    }
}
