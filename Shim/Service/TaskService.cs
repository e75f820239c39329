using Akka.Actor;
using Google.Protobuf.WellKnownTypes;
using WasmKata.Actors;
using WasmKata.Core.Bootstrap;
using WasmKata.Core.Protos.TaskApi;
using WasmKata.Linux.Cgroups;
using WasmKata.Linux.Mounts;
using WasmKata.Shim.Errors;
using WasmKata.Shim.Ttrpc;
using static WasmKata.Actors.TaskProtocol;
using ProtoStatus = WasmKata.Core.Protos.Types.Status;

namespace WasmKata.Shim.Service;

/// <summary>
/// The task API as a thin adapter: each RPC becomes one command asked of the sandbox actor, and the reply (or its
/// <see cref="CommandFailed"/>) becomes the response (or the ttrpc status).
/// </summary>
internal sealed class TaskService(IActorRef sandbox, IShimGate gate)
{
    /// <summary>A service whose Shutdown calls <paramref name="onShutdown"/> when the sandbox agrees (no lifecycle rules).</summary>
    public TaskService(IActorRef sandbox, Action onShutdown)
        : this(sandbox, new PlainGate(sandbox, onShutdown))
    {
    }

    /// <summary>The names containerd dials: v2 (1.6, 1.7, 2.x with a plain address) and v3 (2.x).</summary>
    public static readonly string[] ServiceNames = ["containerd.task.v2.Task", "containerd.task.v3.Task"];

    private static readonly Timestamp NotExited = new() { Seconds = -62135596800 };

    /// <summary>The host's cgroup mode: it picks the shape of Stats replies and does not change while the daemon lives.</summary>
    internal static readonly Lazy<CgroupVersion?> HostCgroupMode = new(() =>
    {
        try
        {
            return CgroupMounts.Read().Mode;
        }
        catch (IOException)
        {
            return null;
        }
    });

    /// <summary>Registers every RPC of the task API on <paramref name="server"/>.</summary>
    public void Register(TtrpcServer server)
    {
        server.Service(ServiceNames)
            .Register<CreateTaskRequest, CreateTaskResponse>("Create", Create)
            .Register<StartRequest, StartResponse>("Start", Start)
            .Register<StateRequest, StateResponse>("State", State)
            .Register<WaitRequest, WaitResponse>("Wait", Wait)
            .Register<KillRequest, Empty>("Kill", Kill)
            .Register<DeleteRequest, DeleteResponse>("Delete", Delete)
            .Register<PidsRequest, PidsResponse>("Pids", Pids)
            .Register<ExecProcessRequest, Empty>("Exec", Exec)
            .Register<CloseIORequest, Empty>("CloseIO", CloseIO)
            .Register<ConnectRequest, ConnectResponse>("Connect", Connect)
            .Register<ShutdownRequest, Empty>("Shutdown", Shutdown)
            .Register<StatsRequest, StatsResponse>("Stats", Stats)
            .Register<ResizePtyRequest, Empty>("ResizePty", ResizePty)
            .Register<PauseRequest, Empty>("Pause", (r, call) => Command(new PauseTask(r.Id), call))
            .Register<ResumeRequest, Empty>("Resume", (r, call) => Command(new ResumeTask(r.Id), call))
            .Register<UpdateTaskRequest, Empty>("Update", Update)
            .Register<CheckpointTaskRequest, Empty>("Checkpoint", (_, _) => NotYet("Checkpoint: checkpointing a wasm container is not supported"));
    }

    private async Task<CreateTaskResponse> Create(CreateTaskRequest r, TtrpcCallContext call)
    {
        if (r.Checkpoint.Length > 0)
            throw new TtrpcException(StatusCode.Unimplemented, "restoring from a checkpoint is not supported");
        var mounts = r.Rootfs.Select(m => new MountSpec(m.Type, m.Source, m.Target, m.Options.ToList())).ToList();
        var stdio = new Stdio(r.Stdin, r.Stdout, r.Stderr, r.Terminal);
        var created = await gate.CreateAsync(r.Id, r.Bundle, () => Ask<Created>(new CreateTask(r.Id, r.Bundle, mounts, stdio, RuntimeOptions.ConfigPath(r.Options)), call));
        return new CreateTaskResponse { Pid = created.Pid };
    }

    private async Task<StartResponse> Start(StartRequest r, TtrpcCallContext call) =>
        new() { Pid = (await Ask<Started>(new StartTask(r.Id, r.ExecId), call)).Pid };

    private async Task<StateResponse> State(StateRequest r, TtrpcCallContext call)
    {
        var view = await Ask<ProcessView>(new QueryState(r.Id, r.ExecId), call);
        return new StateResponse
        {
            Id = r.ExecId.Length > 0 ? r.ExecId : r.Id,
            Bundle = view.Bundle,
            Pid = view.Pid,
            Status = (ProtoStatus)(int)view.Status,
            Stdin = view.Stdio.Stdin,
            Stdout = view.Stdio.Stdout,
            Stderr = view.Stdio.Stderr,
            Terminal = view.Stdio.Terminal,
            ExitStatus = view.ExitStatus,
            ExitedAt = view.ExitedAt is { } at ? Timestamp.FromDateTimeOffset(at) : NotExited,
        };
    }

    private async Task<WaitResponse> Wait(WaitRequest r, TtrpcCallContext call)
    {
        var exited = await Ask<Exited>(new WaitTask(r.Id, r.ExecId), call);
        return new WaitResponse { ExitStatus = exited.ExitStatus, ExitedAt = Timestamp.FromDateTimeOffset(exited.ExitedAt) };
    }

    private async Task<Empty> Kill(KillRequest r, TtrpcCallContext call)
    {
        await Ask<Done>(new KillTask(r.Id, r.ExecId, (int)r.Signal, r.All), call);
        return new Empty();
    }

    private async Task<DeleteResponse> Delete(DeleteRequest r, TtrpcCallContext call)
    {
        var exited = await Ask<Exited>(new DeleteTask(r.Id, r.ExecId), call);
        gate.Deleted(r.Id, r.ExecId);
        return new DeleteResponse { Pid = exited.Pid, ExitStatus = exited.ExitStatus, ExitedAt = Timestamp.FromDateTimeOffset(exited.ExitedAt) };
    }

    private async Task<PidsResponse> Pids(PidsRequest r, TtrpcCallContext call)
    {
        var list = await Ask<PidList>(new ListPids(r.Id), call);
        return ProcessList.From(list, (uint)Environment.ProcessId);
    }

    private async Task<Empty> Exec(ExecProcessRequest r, TtrpcCallContext call)
    {
        if (r.Spec is null)
            throw new TtrpcException(StatusCode.InvalidArgument, "exec process spec is missing");
        var json = r.Spec.Value.ToStringUtf8();
        await Ask<Done>(new AddExec(r.Id, r.ExecId, json, new Stdio(r.Stdin, r.Stdout, r.Stderr, r.Terminal)), call);
        return new Empty();
    }

    private async Task<Empty> CloseIO(CloseIORequest r, TtrpcCallContext call)
    {
        if (r.Stdin)
            await Ask<Done>(new CloseStdin(r.Id, r.ExecId), call);
        return new Empty();
    }

    private async Task<Empty> ResizePty(ResizePtyRequest r, TtrpcCallContext call)
    {
        // A window is at most 65535 cells either way (struct winsize); a larger ask is a client bug, not a wish.
        if (r.Width > ushort.MaxValue || r.Height > ushort.MaxValue)
            throw new TtrpcException(StatusCode.InvalidArgument, $"window size {r.Width}x{r.Height} is out of range (at most 65535 either way)");
        await Ask<Done>(new ResizePty(r.Id, r.ExecId, (ushort)r.Width, (ushort)r.Height), call);
        return new Empty();
    }

    private async Task<ConnectResponse> Connect(ConnectRequest r, TtrpcCallContext call)
    {
        var connected = await Ask<Connected>(new ConnectTask(r.Id), call);
        return new ConnectResponse { ShimPid = connected.ShimPid, TaskPid = connected.TaskPid };
    }

    private async Task<Empty> Shutdown(ShutdownRequest r, TtrpcCallContext call)
    {
        // The gate releases the socket before this reply leaves when the daemon is to exit.
        await gate.ShutdownAsync(r.Id, call.CancellationToken);
        return new Empty();
    }

    private async Task<Empty> Command(ITaskCommand command, TtrpcCallContext call)
    {
        await Ask<Done>(command, call);
        return new Empty();
    }

    private async Task<Empty> Update(UpdateTaskRequest r, TtrpcCallContext call)
    {
        await Ask<Done>(new UpdateTask(r.Id, ResourceUpdate.Parse(r.Resources)), call);
        return new Empty();
    }

    private async Task<StatsResponse> Stats(StatsRequest r, TtrpcCallContext call)
    {
        var stats = await Ask<StatsView>(new QueryStats(r.Id), call);
        var sandbox = await Ask<SandboxStatsView>(new QuerySandboxStats(), call);
        return new StatsResponse { Stats = StatsMetrics.Pack(stats, sandbox, HostCgroupMode.Value) };
    }

    private static Task<Empty> NotYet(string reason) => Task.FromException<Empty>(new TtrpcException(StatusCode.Unimplemented, reason));

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

    /// <summary>The old rule: exit when the sandbox agrees to Shutdown; Creates and Deletes pass through.</summary>
    internal sealed class PlainGate(IActorRef sandbox, Action onShutdown) : IShimGate
    {
        public async Task<bool> ShutdownAsync(string id, CancellationToken cancellationToken)
        {
            var answer = await sandbox.Ask<object>(new RequestShutdown(), Timeout.InfiniteTimeSpan, cancellationToken);
            if (answer is not ShutdownAnswer { Exiting: true })
                return false;
            onShutdown();
            return true;
        }

        public Task<T> CreateAsync<T>(string id, string bundle, Func<Task<T>> create) => create();

        public Task SandboxShutDownAsync(string id, CancellationToken cancellationToken) => ShutdownAsync(id, cancellationToken);

        public void Deleted(string id, string execId)
        {
        }
    }
}

/// <summary>What the task API asks of the daemon's lifecycle: may it create, was a task deleted, may it exit.</summary>
internal interface IShimGate
{
    /// <summary>containerd's Shutdown for <paramref name="id"/>: true when the daemon exits (its socket released by the time this returns).</summary>
    Task<bool> ShutdownAsync(string id, CancellationToken cancellationToken);

    /// <summary>Runs <paramref name="create"/> unless the daemon is leaving; throws Unavailable then.</summary>
    Task<T> CreateAsync<T>(string id, string bundle, Func<Task<T>> create);

    /// <summary>Delete of a task (<paramref name="execId"/> empty) or an exec succeeded.</summary>
    void Deleted(string id, string execId);

    /// <summary>
    /// The sandbox API's ShutdownSandbox for <paramref name="id"/> was carried out: the daemon exits, at once when no
    /// container is left, after an orderly stop of the rest otherwise (its socket released by the time this returns).
    /// </summary>
    Task SandboxShutDownAsync(string id, CancellationToken cancellationToken);
}
