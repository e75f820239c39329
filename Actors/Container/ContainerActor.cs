using Akka.Actor;
using Akka.Event;
using WasmKata.Actors.Events;
using WasmKata.Actors.WasmProcess;
using WasmKata.Config;
using WasmKata.Core;
using WasmKata.Core.Artifacts;
using WasmKata.Core.Oci;
using WasmKata.Core.Plan;
using WasmKata.Core.State;
using WasmKata.Engine;
using WasmKata.Linux.Mounts;
using WasmKata.Linux.Namespaces;
using static WasmKata.Actors.Container.ContainerProtocol;
using static WasmKata.Actors.TaskProtocol;
using static WasmKata.Actors.WasmProcess.WasmProcessProtocol;

namespace WasmKata.Actors.Container;

/// <summary>
/// Owns one container: Creating → Active ⇄ Paused → Gone (deleted, or Create failed). It mounts the rootfs, supervises
/// the processes, keeps their records, answers the task commands and publishes the task events in the order containerd
/// relies on (start before exit, exec exits before init's).
/// </summary>
internal sealed partial class ContainerActor : ReceiveActor, IWithUnboundedStash
{
    private const string Init = ExecTable.Init;
    private readonly CreateTask _create;
    private readonly IActorRef _createReplyTo;
    private readonly IActorRef _events;
    private readonly WasmEngine _engine;
    private readonly RuntimeSettings _settings;
    private readonly SandboxNamespaces _namespaces;
    private readonly StateStore _store;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly CancellationTokenSource _stop = new();
    // The Create's inputs as the sandbox read them (or why it could not); this actor reads no file of its own.
    private readonly ContainerPlanRead _planRead;
    private readonly SandboxCgroupPlan? _sandboxCgroup;
    private ContainerPlan? _plan;
    private RootfsMount _rootfs = RootfsMount.None("");
    private int _execCounter;
    // What stopping owes depends on the state stopped in: each state sets it when entered, with its latest data.
    private Action _atStop = () => { };

    public ContainerActor(
        CreateTask create, ContainerPlanRead plan, SandboxCgroupPlan? sandboxCgroup, IActorRef replyTo, IActorRef events, WasmEngine engine, RuntimeSettings settings, SandboxNamespaces namespaces)
    {
        _create = create;
        _planRead = plan;
        _sandboxCgroup = sandboxCgroup;
        _createReplyTo = replyTo;
        _events = events;
        _engine = engine;
        _settings = settings;
        _namespaces = namespaces;
        _store = new StateStore(settings.StateRoot);
        // PreStart replaces it with init in the table, or fails Create; until then nothing is received.
        Creating(new ContainerData(ExecTable.Empty, ContainerLimits.None));
    }

    public IStash Stash { get; set; } = null!;

    private string Id => _create.ContainerId;

    protected override void PreStart()
    {
        try
        {
            // Inputs the sandbox could not read (configuration.toml, config.json, a mount source) are refused here, at
            // Create, with the reader's message: the file, key and value.
            _plan = _planRead.Get();
            // Known before mounting, so a failed mount is still reported with its path.
            _rootfs = RootfsMount.None(Plan.RootfsPath);
            if (_settings.GuestHost?.Unavailable is { } why)
                throw new GuestHostUnavailableException(why);
            // A pod's sandbox container runs no guest: its rootfs needs no mapping.
            _rootfs = RootfsMount.Mount(_create.Rootfs, Plan.RootfsPath, Plan.IsPodSandbox ? null : _settings.GuestHost?.Idmap);
            if (!Plan.IsPodSandbox && NeedsArtifact(Spec.Process))
            {
                ReadArtifact();
                return;
            }
            // A pod's sandbox container is the sandbox itself: nothing to execute, it lives until stopped.
            var (module, config) = Plan.IsPodSandbox ? ("", PlaceholderConfig) : PlanGuest(Spec.Process, Plan.Limits);
            var execs = Spawn(ExecTable.Empty, Init, module, config, _create.Stdio, Plan.Limits, _createReplyTo);
            Creating(new ContainerData(execs, Plan.Limits));
        }
        catch (Exception e)
        {
            FailCreate(ToFailure(e), [_createReplyTo]);
        }
    }

    /// <summary>Process actors own guests and fds: a failed one is stopped and its exit reported, never restarted.</summary>
    protected override SupervisorStrategy SupervisorStrategy() => StopOwnersStrategy.StopAll;

    protected override void PostStop()
    {
        _stop.Cancel();
        _stop.Dispose();
        _atStop();
        _rootfs.ReleaseOrReport(e => _log.Error(e, "{Container}: unmounting {Rootfs} failed", Id, _rootfs.Path));
    }

    // Read at PreStart; nothing that needs it runs before, or after a Create that could not read it.
    private ContainerPlan Plan => _plan ?? throw new InvalidOperationException($"container {Id}: no plan");

    private OciSpec Spec => Plan.Spec;

    private GuestConfig PlaceholderConfig => new([], [], _rootfs.Path, true, "/", [], null);

    private void Creating(ContainerData data)
    {
        // Never active: nothing of it is left to keep for a restarted shim.
        _atStop = ForgetState;
        Become(() =>
        {
            Receive<ProcessReady>(ready =>
            {
                Creating(data with { Execs = data.Execs.UpdateProcess(Init, p => p with { Pid = ready.Pid, Phase = Phase.Created }) });
                // OCI order: the create-time hooks run once the process exists and before Create returns.
                RunCreateHooks(ready.Pid).PipeTo(Self, success: () => new HooksPassed(HookKind.CreateContainer),
                    failure: e => new HooksFailed(HookKind.CreateContainer, e.Message));
            });
            Receive<HooksFailed>(failed =>
            {
                RunPoststop();
                FailCreate(new CommandFailed(FailureCode.FailedPrecondition, failed.Message), data.Execs.Owed);
            });
            Receive<HooksPassed>(_ => FinishCreate(data));
            Receive<ProcessFailed>(failed => FailCreate(failed.Failure, data.Execs.Owed));
            ReceiveAny(_ => Stash.Stash());
        });
    }

    private void FinishCreate(ContainerData data)
    {
        var ready = data.Execs.InitProcess;
        try
        {
            Persist(data.Execs, paused: false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Without saved state a crash could not be cleaned up: refuse rather than run unrecoverable.
            FailCreate(new CommandFailed(FailureCode.Internal, $"cannot save state of container {Id}: {e.Message}"), data.Execs.Owed);
            return;
        }
        _events.Tell(new TaskCreated(Id, _create.Bundle, _create.Rootfs,
            new TaskIo(_create.Stdio.Stdin, _create.Stdio.Stdout, _create.Stdio.Stderr, _create.Stdio.Terminal), ready.Pid));
        var execs = Reply(data.Execs, Init, new Created(ready.Pid));
        Stash.UnstashAll();
        Active(data with { Execs = execs });
    }

    private void Active(ContainerData data)
    {
        // Stopped while active (the shim going down): the live processes' exits must still be reported.
        _atStop = () => ReportLostExits(data.Execs);
        Become(() =>
        {
            Receive<StartTask>(start => Next(OnStart(data, start), Active));
            Receive<StartHooksPassed>(passed => Next(StartProcess(data, data.Execs.InitProcess, passed.ReplyTo), Active));
            Receive<PauseTask>(_ =>
            {
                if (Lifecycle.CheckPause(data.Execs.InitProcess.Phase, paused: false) is { } failure)
                {
                    Sender.Tell(failure);
                    return;
                }
                SetPaused(data.Execs, true);
                Paused(data);
            });
            Receive<ResumeTask>(_ => Sender.Tell(Lifecycle.CheckResume(data.Execs.InitProcess.Phase, paused: false)!));
            Live(data, paused: false, Active);
        });
    }

    // As containerd's runc shim's paused state: nothing starts and nothing pauses again until resumed.
    private void Paused(ContainerData data)
    {
        _atStop = () => ReportLostExits(data.Execs);
        Become(() =>
        {
            Receive<StartTask>(start => WithProcess(data.Execs, start.ExecId, process => Sender.Tell(RefuseStart(data, process))));
            Receive<StartHooksPassed>(passed => passed.ReplyTo.Tell(RefuseStart(data, data.Execs.InitProcess)));
            Receive<PauseTask>(_ => Sender.Tell(Lifecycle.CheckPause(data.Execs.InitProcess.Phase, paused: true)!));
            Receive<ResumeTask>(_ =>
            {
                if (Lifecycle.CheckResume(data.Execs.InitProcess.Phase, paused: true) is { } failure)
                {
                    Sender.Tell(failure);
                    return;
                }
                SetPaused(data.Execs, false);
                Active(data);
            });
            Live(data, paused: true, Paused);
        });
    }

    /// <summary>What Active and Paused both answer; <paramref name="stay"/> re-enters the state with the changed data.</summary>
    private void Live(ContainerData data, bool paused, Action<ContainerData> stay)
    {
        var execs = data.Execs;
        Receive<StartHooksFailed>(failed =>
        {
            // A failed startContainer hook fails Start and ends the container, as runc does.
            failed.ReplyTo.Tell(new CommandFailed(FailureCode.FailedPrecondition, failed.Message));
            Signal(execs[Init], SignalNumber.Kill);
        });
        Receive<QueryState>(q => WithProcess(execs, q.ExecId, p => Sender.Tell(View(p, paused))));
        Receive<WaitTask>(wait => Next(OnWait(data, wait), stay));
        Receive<KillTask>(kill => OnKill(execs, kill));
        Receive<DeleteTask>(delete => Next(OnDelete(data, delete), stay));
        Receive<AddExec>(add => Next(OnAddExec(data, add), stay));
        Receive<TaskProtocol.CloseStdin>(c => WithProcess(execs, c.ExecId, p =>
        {
            execs[p.ExecId].Actor?.Tell(WasmProcessProtocol.CloseStdin.Instance);
            Sender.Tell(Done.Instance);
        }));
        Receive<ResizePty>(r => WithProcess(execs, r.ExecId, p =>
        {
            if (p.Phase == Phase.Stopped)
                Sender.Tell(new CommandFailed(FailureCode.FailedPrecondition, $"{Id}/{(p.ExecId.Length == 0 ? "init" : p.ExecId)}: cannot resize a stopped container"));
            else if (execs[p.ExecId].Actor is { } actor)
                actor.Forward(new ResizeTerminal(r.Columns, r.Rows));
            else
                Sender.Tell(Done.Instance);
        }));
        Receive<ListPids>(_ => Sender.Tell(new PidList(execs.All
            .Where(e => e.ExecId == Init || e.Process.IsLive)
            .Select(e => new PidEntry(e.Process.Pid, e.ExecId)).ToList(), _settings.GuestHost is not null)));
        Receive<TaskProtocol.QueryStats>(_ => execs[Init].Actor?.Forward(new WasmProcessProtocol.QueryStats(data.Limits.MemoryLimitBytes)));
        Receive<UpdateTask>(update => Next(OnUpdate(data, update), stay));
        Receive<ProcessOom>(oom =>
        {
            _log.Warning("{Container}/{Exec}: out of memory at {Limit} bytes", Id, oom.ExecId.Length == 0 ? "init" : oom.ExecId, oom.LimitBytes);
            _events.Tell(new TaskOom(Id));
        });
        Receive<ConnectTask>(_ => Sender.Tell(new Connected((uint)Environment.ProcessId, execs.InitProcess.Pid)));
        Receive<ProcessReady>(ready => Next(OnExecReady(data, ready), stay));
        Receive<ProcessFailed>(failed => Next(OnExecFailed(data, failed), stay));
        Receive<ProcessExited>(exited => Next(OnExited(data, exited), stay));
        Receive<Terminated>(terminated => Next(OnTerminated(data, terminated), stay));
    }

    // A handler's result: the changed data to stay with, or null when it has left the state (the container is gone).
    private static void Next(ContainerData? next, Action<ContainerData> stay)
    {
        if (next is not null)
            stay(next);
    }

    private void FailCreate(CommandFailed failure, IEnumerable<IActorRef> owed)
    {
        _log.Warning("{Container}: create failed: {Message}", Id, failure.Message);
        // Nothing of a failed container outlives the answer: its rootfs and state go before the client hears (the
        // actor itself stops only once the sandbox has forgotten it).
        _rootfs.ReleaseOrReport(e => _log.Error(e, "{Container}: unmounting {Rootfs} failed", Id, _rootfs.Path));
        ForgetState();
        // The sandbox forgets the id before the client hears of the failure, so no later command reaches this actor.
        BecomeGone(failure, owed);
    }

    /// <summary>
    /// Deleted, or Create failed: asks the sandbox to forget the id and answers NotFound until it has, because commands
    /// it routed here meanwhile (a Delete racing a failing Create, a second Delete) would otherwise reach a stopped actor
    /// and their callers, who ask without a timeout, would wait for ever. Stashed commands get the same answer, and
    /// whoever still waits on a reply of this container (<paramref name="owed"/>) gets <paramref name="leftover"/>.
    /// </summary>
    private void BecomeGone(CommandFailed leftover, IEnumerable<IActorRef> owed)
    {
        Context.Parent.Tell(new ContainerDeleted(Id), Self);
        foreach (var replyTo in owed.ToList())
            replyTo.Tell(leftover);
        _atStop = ForgetState;
        Become(() =>
        {
            Receive<ConnectTask>(_ => Sender.Tell(new Connected((uint)Environment.ProcessId, 0)));
            Receive<ITaskCommand>(_ => Sender.Tell(new CommandFailed(FailureCode.NotFound, $"container {Id}: not found")));
            Receive<Forgotten>(_ => Context.Stop(Self));
            ReceiveAny(_ => { });
        });
        Stash.UnstashAll();
    }

    private void WithProcess(ExecTable execs, string execId, Action<ProcessRecord> action)
    {
        if (execs.TryGet(execId, out var entry) && entry.Process.Phase != Phase.Preparing)
            action(entry.Process);
        else
            Sender.Tell(new CommandFailed(FailureCode.NotFound, execId == Init ? $"container {Id}: not found" : $"exec {execId} of container {Id}: not found"));
    }

    // Answers whoever waits for the creation of execId, once.
    private static ExecTable Reply(ExecTable execs, string execId, object message)
    {
        if (!execs.TryGet(execId, out var entry) || entry.PendingReply is not { } replyTo)
            return execs;
        replyTo.Tell(message);
        return execs.With(entry with { PendingReply = null });
    }

    private ProcessView View(ProcessRecord p, bool paused) => new(
        Id, p.ExecId, _create.Bundle, p.Pid, paused && p.Phase == Phase.Running ? ProcessStatus.Paused : p.Status, p.Stdio, p.ExitStatus, p.ExitedAt);

    private static CommandFailed ToFailure(Exception e) => e switch
    {
        GuestPlanException g => new CommandFailed(g.Code, g.Message),
        ArtifactException a => new CommandFailed(a.Code, a.Message),
        OciSpecException or ConfigException => new CommandFailed(FailureCode.InvalidArgument, e.Message),
        MountException { ErrnoName: "ENOENT" or "ENOTDIR" } => new CommandFailed(FailureCode.NotFound, e.Message),
        MountException { ErrnoName: "EINVAL" } => new CommandFailed(FailureCode.InvalidArgument, e.Message),
        GuestHostUnavailableException => new CommandFailed(FailureCode.Unavailable, e.Message),
        _ => new CommandFailed(FailureCode.Internal, e.Message),
    };
}
