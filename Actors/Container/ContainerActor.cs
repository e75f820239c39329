using Akka.Actor;
using Akka.Event;
using WasmKata.Engine;
using WasmKata.Core.Hooks;
using WasmKata.Actors.Events;
using WasmKata.Core.Oci;
using WasmKata.Core.State;
using WasmKata.Actors.WasmProcess;
using WasmKata.Config;
using WasmKata.Linux.Mounts;
using WasmKata.Linux.Namespaces;
using static WasmKata.Actors.TaskProtocol;
using static WasmKata.Actors.WasmProcess.WasmProcessProtocol;
using WasmKata.Core.Plan;
using WasmKata.Core;

namespace WasmKata.Actors.Container;

/// <summary>
/// Owns one container: mounts its rootfs, supervises its processes, keeps their records, answers the task commands
/// and publishes the task events in the order containerd relies on (start before exit, exec exits before init's).
/// </summary>
internal sealed class ContainerActor : ReceiveActor, IWithUnboundedStash
{
    private const string Init = "";
    private readonly CreateTask _create;
    // The Create's inputs as the sandbox read them (or why it could not); this actor reads no file of its own.
    private readonly ContainerPlanRead _plan;
    private readonly SandboxCgroupPlan? _sandboxCgroup;
    private readonly IActorRef _events;
    private readonly WasmEngine _engine;
    private readonly RuntimeSettings _settings;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Dictionary<string, ProcessRecord> _processes = [];
    private readonly Dictionary<string, IActorRef> _actors = [];
    private readonly Dictionary<string, List<IActorRef>> _waiters = [];
    private readonly Dictionary<string, IActorRef> _pendingReplies = [];
    private readonly Dictionary<string, IActorRef> _pendingDeletes = [];
    private OciSpec _spec = new();
    private string _rootfs = "";
    private bool _mounted;
    private ProcessExited? _heldInitExit;
    private bool _deleted;
    private bool _active;
    private int _execCounter;
    private readonly StateStore _store;
    private readonly SandboxNamespaces _namespaces;
    private readonly CancellationTokenSource _stop = new();
    private OciHooks _hooks = OciHooks.Empty;
    private ContainerLimits _limits = ContainerLimits.None;
    private bool _paused;

    public ContainerActor(
        CreateTask create, ContainerPlanRead plan, SandboxCgroupPlan? sandboxCgroup, IActorRef replyTo, IActorRef events, WasmEngine engine,
        RuntimeSettings settings, SandboxNamespaces namespaces)
    {
        _namespaces = namespaces;
        _create = create;
        _plan = plan;
        _sandboxCgroup = sandboxCgroup;
        _events = events;
        _engine = engine;
        _settings = settings;
        _store = new StateStore(settings.StateRoot);
        _pendingReplies[Init] = replyTo;
        Creating();
    }

    public IStash Stash { get; set; } = null!;

    private string Id => _create.ContainerId;

    protected override void PreStart()
    {
        try
        {
            // Inputs the sandbox could not read (configuration.toml, config.json, a mount source) are refused here, at
            // Create, with the reader's message: the file, key and value.
            var plan = _plan.Get();
            _spec = plan.Spec;
            _limits = plan.Limits;
            _hooks = plan.Hooks;
            _rootfs = plan.RootfsPath;
            if (_create.Rootfs.Count > 0)
            {
                Directory.CreateDirectory(_rootfs);
                Mounts.MountAll(_create.Rootfs, _rootfs);
                _mounted = true;
            }
            if (plan.IsPodSandbox)
            {
                // A pod's sandbox container is the sandbox itself: nothing to execute, it lives until stopped.
                Spawn(Init, "", PlaceholderConfig, _create.Stdio);
                return;
            }
            var (module, config) = Plan(_spec.Process);
            Spawn(Init, module, config, _create.Stdio);
        }
        catch (Exception e)
        {
            FailCreate(ToFailure(e));
        }
    }

    /// <summary>Process actors own guests and fds: a failed one is stopped and its exit reported, never restarted.</summary>
    protected override SupervisorStrategy SupervisorStrategy() => StopOwnersStrategy.StopAll;

    protected override void PostStop()
    {
        _stop.Cancel();
        _stop.Dispose();
        if (_active && !_deleted)
            ReportLostExits();
        if (_deleted || !_active)
            _store.Remove(_settings.Namespace, Id);
        ReleaseRootfs();
    }

    // Unmounts the rootfs once; a failure is logged, as the container goes away regardless.
    private void ReleaseRootfs()
    {
        if (!_mounted)
            return;
        try
        {
            Mounts.UnmountAll(_rootfs);
        }
        catch (Exception e)
        {
            _log.Error(e, "{Container}: unmounting {Rootfs} failed", Id, _rootfs);
        }
        _mounted = false;
    }

    private GuestConfig PlaceholderConfig => new([], [], _rootfs, true, "/", [], null);

    private (string Module, GuestConfig Config) Plan(OciProcess? process) => GuestPlan.For(
        process, _rootfs, _spec.Root?.Readonly ?? false, MemoryLimit, GuestPlan.Preopens(_spec.Mounts), GuestPlan.IsMarkedWasm(_spec));

    private long? MemoryLimit => _limits.MemoryLimitBytes;

    private void Creating()
    {
        Receive<ProcessReady>(ready =>
        {
            _processes[Init] = _processes[Init] with { Pid = ready.Pid, Phase = Phase.Created };
            // OCI order: the create-time hooks run once the process exists and before Create returns.
            RunCreateHooks(ready.Pid).PipeTo(Self, success: () => new HooksPassed(HookKind.CreateContainer),
                failure: e => new HooksFailed(HookKind.CreateContainer, e.Message));
        });
        Receive<HooksFailed>(failed =>
        {
            RunPoststop();
            FailCreate(new CommandFailed(FailureCode.FailedPrecondition, failed.Message));
        });
        Receive<HooksPassed>(_ =>
        {
            var ready = _processes[Init];
            try
            {
                Persist();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Without saved state a crash could not be cleaned up: refuse rather than run unrecoverable.
                FailCreate(new CommandFailed(FailureCode.Internal, $"cannot save state of container {Id}: {e.Message}"));
                return;
            }
            _events.Tell(new TaskCreated(Id, _create.Bundle, _create.Rootfs,
                new TaskIo(_create.Stdio.Stdin, _create.Stdio.Stdout, _create.Stdio.Stderr, _create.Stdio.Terminal), ready.Pid));
            Reply(Init, new Created(ready.Pid));
            Stash.UnstashAll();
            _active = true;
            Become(Active);
        });
        Receive<ProcessFailed>(failed => FailCreate(failed.Failure));
        ReceiveAny(_ => Stash.Stash());
    }

    private void Active()
    {
        Receive<StartTask>(OnStart);
        Receive<StartHooksPassed>(passed => StartProcess(_processes[Init], passed.ReplyTo));
        Receive<StartHooksFailed>(failed =>
        {
            // A failed startContainer hook fails Start and ends the container, as runc does.
            failed.ReplyTo.Tell(new CommandFailed(FailureCode.FailedPrecondition, failed.Message));
            Signal(_processes[Init], SignalNumber.Kill);
        });
        Receive<QueryState>(q => WithProcess(q.ExecId, p => Sender.Tell(View(p))));
        Receive<WaitTask>(OnWait);
        Receive<KillTask>(OnKill);
        Receive<DeleteTask>(OnDelete);
        Receive<AddExec>(OnAddExec);
        Receive<TaskProtocol.CloseStdin>(c => WithProcess(c.ExecId, p =>
        {
            if (_actors.TryGetValue(p.ExecId, out var actor))
                actor.Tell(WasmProcessProtocol.CloseStdin.Instance);
            Sender.Tell(Done.Instance);
        }));
        Receive<ListPids>(_ => Sender.Tell(new PidList(_processes.Values
            .Where(p => p.ExecId == Init || p.IsLive)
            .Select(p => new PidEntry(p.Pid, p.ExecId)).ToList())));
        Receive<TaskProtocol.QueryStats>(_ => _actors[Init].Forward(new WasmProcessProtocol.QueryStats(MemoryLimit)));
        Receive<PauseTask>(OnPause);
        Receive<ResumeTask>(OnResume);
        Receive<UpdateTask>(OnUpdate);
        Receive<ProcessOom>(oom =>
        {
            _log.Warning("{Container}/{Exec}: out of memory at {Limit} bytes", Id, oom.ExecId.Length == 0 ? "init" : oom.ExecId, oom.LimitBytes);
            _events.Tell(new TaskOom(Id));
        });
        Receive<ConnectTask>(_ => Sender.Tell(new Connected((uint)Environment.ProcessId, _processes[Init].Pid)));
        Receive<ProcessReady>(OnExecReady);
        Receive<ProcessFailed>(OnExecFailed);
        Receive<ProcessExited>(OnExited);
        Receive<Terminated>(OnTerminated);
    }

    private void OnStart(StartTask start) => WithProcess(start.ExecId, process =>
    {
        if (Lifecycle.CheckStart(process, process.ExecId == Init, _processes[Init].Phase) is { } failure)
        {
            Sender.Tell(failure);
            return;
        }
        if (process.ExecId == Init && _hooks.For(HookKind.StartContainer).Count > 0)
        {
            var replyTo = Sender;
            RunHooks(HookKind.StartContainer, OciStatus.Created, process.Pid).PipeTo(Self,
                success: _ => new StartHooksPassed(replyTo), failure: e => new StartHooksFailed(replyTo, e.Message));
            return;
        }
        StartProcess(process, Sender);
    });

    private void StartProcess(ProcessRecord process, IActorRef replyTo)
    {
        if (process.Phase != Phase.Created)
        {
            replyTo.Tell(Lifecycle.CheckStart(process, process.ExecId == Init, _processes[Init].Phase) ?? new CommandFailed(FailureCode.Internal, "bad state"));
            return;
        }
        if (_paused)
        {
            replyTo.Tell(new CommandFailed(FailureCode.FailedPrecondition, $"container {Id} is paused"));
            return;
        }
        _processes[process.ExecId] = process with { Phase = Phase.Running };
        _actors[process.ExecId].Tell(WasmProcessProtocol.Start.Instance);
        if (process.ExecId == Init)
        {
            TryPersist();
            LogFailures(RunHooks(HookKind.Poststart, OciStatus.Running, process.Pid));
        }
        _events.Tell(process.ExecId == Init
            ? new TaskStarted(Id, process.Pid)
            : new TaskExecStarted(Id, process.ExecId, process.Pid));
        replyTo.Tell(new Started(process.Pid));
    }

    // As containerd's runc shim: only a running container pauses; every live process of it stops executing.
    private void OnPause(PauseTask pause)
    {
        if (Lifecycle.CheckPause(_processes[Init].Phase, _paused) is { } failure)
        {
            Sender.Tell(failure);
            return;
        }
        _paused = true;
        foreach (var process in _processes.Values.Where(p => p.Phase == Phase.Running))
            _actors[process.ExecId].Tell(WasmProcessProtocol.Pause.Instance);
        _log.Info("{Container}: paused", Id);
        _events.Tell(new TaskPaused(Id));
        TryPersist();
        Sender.Tell(Done.Instance);
    }

    private void OnResume(ResumeTask resume)
    {
        if (Lifecycle.CheckResume(_processes[Init].Phase, _paused) is { } failure)
        {
            Sender.Tell(failure);
            return;
        }
        _paused = false;
        foreach (var process in _processes.Values.Where(p => p.Phase == Phase.Running))
            _actors[process.ExecId].Tell(WasmProcessProtocol.Resume.Instance);
        _log.Info("{Container}: resumed", Id);
        _events.Tell(new TaskResumed(Id));
        TryPersist();
        Sender.Tell(Done.Instance);
    }

    private void OnUpdate(UpdateTask update)
    {
        if (_processes[Init].Phase == Phase.Stopped)
        {
            Sender.Tell(new CommandFailed(FailureCode.FailedPrecondition, $"container {Id} has stopped: its resources cannot change"));
            return;
        }
        ContainerLimits limits;
        try
        {
            limits = _limits.With(update.Resources);
        }
        catch (ArgumentException e)
        {
            Sender.Tell(new CommandFailed(FailureCode.InvalidArgument, $"update of container {Id}: {e.Message}"));
            return;
        }
        _limits = limits;
        _log.Info("{Container}: limits now memory {Memory}, cpu {Cpu}, shares {Shares}", Id, limits.MemoryLimitBytes, limits.Cpu, limits.CpuShares);
        var message = new UpdateLimits(limits.MemoryLimitBytes, limits.Cpu) { CpuShares = limits.CpuShares };
        foreach (var process in _processes.Values.Where(p => p.IsLive))
            _actors[process.ExecId].Tell(message);
        Sender.Tell(Done.Instance);
    }

    private void OnWait(WaitTask wait) => WithProcess(wait.ExecId, process =>
    {
        if (process.Phase == Phase.Stopped)
            Sender.Tell(new Exited(process.Pid, process.ExitStatus, process.ExitedAt!.Value));
        else
            (_waiters.TryGetValue(process.ExecId, out var list) ? list : _waiters[process.ExecId] = []).Add(Sender);
    });

    private void OnKill(KillTask kill)
    {
        if (!Lifecycle.IsValidSignal(kill.Signal))
        {
            Sender.Tell(new CommandFailed(FailureCode.InvalidArgument, $"invalid signal {kill.Signal}"));
            return;
        }
        if (kill.All)
        {
            foreach (var process in _processes.Values.Where(p => p.IsLive))
                Signal(process, kill.Signal);
            Sender.Tell(Done.Instance);
            return;
        }
        WithProcess(kill.ExecId, process =>
        {
            if (Lifecycle.CheckKill(process) is { } failure)
            {
                Sender.Tell(failure);
                return;
            }
            Signal(process, kill.Signal);
            Sender.Tell(Done.Instance);
        });
    }

    private void Signal(ProcessRecord process, int signal)
    {
        if (Lifecycle.Terminates(signal))
            _actors[process.ExecId].Tell(new WasmProcessProtocol.Signal(signal));
    }

    private void OnDelete(DeleteTask delete) => WithProcess(delete.ExecId, process =>
    {
        if (Lifecycle.CheckDelete(process) is { } failure)
        {
            Sender.Tell(failure);
            return;
        }
        if (process.Phase == Phase.Created)
        {
            // Never started: end it first, as runc does for a created container, and finish when it has exited.
            _pendingDeletes[process.ExecId] = Sender;
            Signal(process, SignalNumber.Kill);
            return;
        }
        FinishDelete(process, Sender);
    });

    private void FinishDelete(ProcessRecord process, IActorRef replyTo)
    {
        var exited = new Exited(process.Pid, process.ExitStatus, process.ExitedAt ?? DateTimeOffset.UtcNow);
        if (process.ExecId != Init)
        {
            _processes.Remove(process.ExecId);
            if (_actors.Remove(process.ExecId, out var actor))
            {
                Context.Unwatch(actor);
                Context.Stop(actor);
            }
            replyTo.Tell(exited);
            return;
        }
        foreach (var actor in _actors.Values)
        {
            Context.Unwatch(actor);
            Context.Stop(actor);
        }
        if (_mounted)
        {
            Mounts.UnmountAll(_rootfs);
            _mounted = false;
        }
        _deleted = true;
        _store.Remove(_settings.Namespace, Id);
        RunPoststop();
        _events.Tell(new TaskDeleted(Id, "", exited.Pid, exited.ExitStatus, exited.ExitedAt));
        replyTo.Tell(exited);
        BecomeGone(new CommandFailed(FailureCode.NotFound, $"container {Id}: deleted"));
    }

    private void OnAddExec(AddExec add)
    {
        if (Lifecycle.CheckAddExec(_processes, add.ExecId, _processes[Init].Phase) is { } failure)
        {
            Sender.Tell(failure);
            return;
        }
        try
        {
            var (module, config) = Plan(OciJson.ParseProcess(add.ProcessJson));
            _pendingReplies[add.ExecId] = Sender;
            Spawn(add.ExecId, module, config, add.Stdio);
        }
        catch (Exception e)
        {
            Sender.Tell(ToFailure(e));
        }
    }

    private void OnExecReady(ProcessReady ready)
    {
        _processes[ready.ExecId] = _processes[ready.ExecId] with { Pid = ready.Pid, Phase = Phase.Created };
        _events.Tell(new TaskExecAdded(Id, ready.ExecId));
        Reply(ready.ExecId, Done.Instance);
    }

    private void OnExecFailed(ProcessFailed failed)
    {
        _processes.Remove(failed.ExecId);
        if (_actors.Remove(failed.ExecId, out var actor))
        {
            Context.Unwatch(actor);
            Context.Stop(actor);
        }
        Reply(failed.ExecId, failed.Failure);
    }

    private void OnExited(ProcessExited exited)
    {
        if (exited.ExecId == Init && _processes.Values.Any(p => p.ExecId != Init && p.IsLive))
        {
            // Like a pid namespace losing its init: the execs die too, and their exits go out before init's.
            _heldInitExit = exited;
            foreach (var exec in _processes.Values.Where(p => p.ExecId != Init && p.IsLive))
                Signal(exec, SignalNumber.Kill);
            return;
        }
        Record(exited);
        if (_heldInitExit is { } held && !_processes.Values.Any(p => p.ExecId != Init && p.IsLive))
        {
            _heldInitExit = null;
            Record(held);
        }
    }

    private void Record(ProcessExited exited)
    {
        if (!_processes.TryGetValue(exited.ExecId, out var process))
            return;
        process = process with { Phase = Phase.Stopped, ExitStatus = exited.ExitStatus, ExitedAt = exited.ExitedAt };
        _processes[exited.ExecId] = process;
        if (exited.ExecId == Init)
            TryPersist();
        _log.Info("{Container}/{Exec}: exited with status {Status}", Id, exited.ExecId.Length == 0 ? "init" : exited.ExecId, exited.ExitStatus);
        _events.Tell(new TaskExited(Id, exited.ExecId == Init ? Id : exited.ExecId, process.Pid, exited.ExitStatus, exited.ExitedAt));
        if (_waiters.Remove(exited.ExecId, out var waiters))
        {
            var reply = new Exited(process.Pid, exited.ExitStatus, exited.ExitedAt);
            foreach (var waiter in waiters)
                waiter.Tell(reply);
        }
        if (_pendingDeletes.Remove(exited.ExecId, out var deleter))
            FinishDelete(process, deleter);
    }

    private void OnTerminated(Terminated terminated)
    {
        // A process actor died without reporting its exit (a bug or a crash): the exit status must not be lost.
        var execId = _actors.FirstOrDefault(a => a.Value.Equals(terminated.ActorRef)).Key;
        if (execId is null || !_processes.TryGetValue(execId, out var process))
            return;
        _actors.Remove(execId);
        _log.Error("{Container}/{Exec}: process actor stopped unexpectedly", Id, execId);
        if (process.Phase == Phase.Preparing)
        {
            OnExecFailed(new ProcessFailed(execId, new CommandFailed(FailureCode.Internal, "process failed while being created")));
            return;
        }
        if (process.IsLive)
            OnExited(new ProcessExited(execId, process.Pid, ExitStatus.Internal, DateTimeOffset.UtcNow, "process actor failed"));
    }

    private void Spawn(string execId, string module, GuestConfig config, Stdio stdio)
    {
        var launch = new Launch(Id, execId, module, config, stdio) { Namespaces = _namespaces, Cpu = _limits.Cpu, CpuShares = _limits.CpuShares };
        var name = execId == Init ? "init" : $"exec-{++_execCounter}";
        var actor = Context.ActorOf(WasmProcessProtocol.Props(launch, _engine, _settings), name);
        Context.Watch(actor);
        _actors[execId] = actor;
        _processes[execId] = new ProcessRecord(execId, 0, Phase.Preparing, stdio);
    }

    private async Task RunCreateHooks(uint pid)
    {
        foreach (var kind in new[] { HookKind.Prestart, HookKind.CreateRuntime, HookKind.CreateContainer })
            await RunHooks(kind, OciStatus.Creating, pid);
    }

    private Task<IReadOnlyList<HookFailedException>> RunHooks(HookKind kind, OciStatus status, uint pid) =>
        HookRunner.RunAsync(kind, _hooks.For(kind),
            new OciState { Id = Id, Status = status, Pid = (int)pid, Bundle = _create.Bundle, Annotations = _spec.Annotations },
            _stop.Token);

    /// <summary>poststop runs after the container is gone; its failures are only logged.</summary>
    private void RunPoststop()
    {
        if (_hooks.For(HookKind.Poststop).Count == 0)
            return;
        // Not tied to this actor's life: the container stops right after, and poststop must still run to its end.
        LogFailures(HookRunner.RunAsync(HookKind.Poststop, _hooks.For(HookKind.Poststop),
            new OciState { Id = Id, Status = OciStatus.Stopped, Bundle = _create.Bundle, Annotations = _spec.Annotations }));
    }

    private void LogFailures(Task<IReadOnlyList<HookFailedException>> hooks)
    {
        var log = _log;
        var id = Id;
        hooks.ContinueWith(t =>
        {
            var failures = t.IsFaulted ? [t.Exception!.GetBaseException()] : t.IsCanceled ? [] : t.Result.Cast<Exception>().ToList();
            foreach (var failure in failures)
                log.Warning("{Container}: {Hook}", id, failure.Message);
        }, TaskScheduler.Default);
    }

    private sealed record HooksPassed(HookKind Kind);

    private sealed record HooksFailed(HookKind Kind, string Message);

    private sealed record StartHooksPassed(IActorRef ReplyTo);

    private sealed record StartHooksFailed(IActorRef ReplyTo, string Message);

    private void Persist()
    {
        var init = _processes[Init];
        _store.Save(new ContainerState
        {
            Id = Id,
            Namespace = _settings.Namespace,
            Bundle = _create.Bundle,
            Rootfs = _rootfs,
            RootfsMounted = _mounted,
            ShimPid = Environment.ProcessId,
            InitPid = init.Pid,
            Status = (_paused && init.Phase == Phase.Running ? ProcessStatus.Paused : init.Status).ToString().ToLowerInvariant(),
            ExitStatus = init.Phase == Phase.Stopped ? init.ExitStatus : null,
            ExitedAt = init.ExitedAt,
            Cgroup = _sandboxCgroup?.Path,
            CgroupDriver = _sandboxCgroup?.Driver,
            SystemdAddress = _sandboxCgroup?.SystemdAddress,
        });
    }

    private void TryPersist()
    {
        try
        {
            Persist();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _log.Error("{Container}: cannot save state: {Error}", Id, e.Message);
        }
    }

    /// <summary>Stopped (failed, or the shim going down) with processes still live: their guests end with us, and
    /// waiters and containerd still get an exit (255) instead of waiting forever.</summary>
    private void ReportLostExits()
    {
        var at = DateTimeOffset.UtcNow;
        foreach (var process in _processes.Values.Where(p => p.IsLive && p.Phase != Phase.Preparing))
        {
            _events.Tell(new TaskExited(Id, process.ExecId == Init ? Id : process.ExecId, process.Pid, ExitStatus.Internal, at));
            foreach (var waiter in _waiters.GetValueOrDefault(process.ExecId) ?? [])
                waiter.Tell(new Exited(process.Pid, ExitStatus.Internal, at));
        }
        foreach (var replyTo in _pendingReplies.Values.Concat(_pendingDeletes.Values))
            replyTo.Tell(new CommandFailed(FailureCode.Internal, $"container {Id} failed"));
    }

    private void FailCreate(CommandFailed failure)
    {
        _log.Warning("{Container}: create failed: {Message}", Id, failure.Message);
        // Nothing of a failed container outlives the answer: its rootfs and state go before the client hears (the
        // actor itself stops only once the sandbox has forgotten it).
        ReleaseRootfs();
        _store.Remove(_settings.Namespace, Id);
        // The sandbox forgets the id before the client hears of the failure, so no later command reaches this actor.
        BecomeGone(failure);
    }

    /// <summary>
    /// Deleted, or Create failed: asks the sandbox to forget the id and answers NotFound until it has, because commands
    /// it routed here meanwhile (a Delete racing a failing Create, a second Delete) would otherwise reach a stopped actor
    /// and their callers, who ask without a timeout, would wait for ever. Stashed commands get the same answer, and
    /// whoever still waits on a reply of this container gets <paramref name="leftover"/>.
    /// </summary>
    private void BecomeGone(CommandFailed leftover)
    {
        Context.Parent.Tell(new ContainerProtocol.ContainerDeleted(Id), Self);
        foreach (var replyTo in _pendingReplies.Values.Concat(_pendingDeletes.Values).Concat(_waiters.Values.SelectMany(w => w)))
            replyTo.Tell(leftover);
        _pendingReplies.Clear();
        _pendingDeletes.Clear();
        _waiters.Clear();
        Become(() =>
        {
            Receive<ConnectTask>(_ => Sender.Tell(new Connected((uint)Environment.ProcessId, 0)));
            Receive<ITaskCommand>(_ => Sender.Tell(new CommandFailed(FailureCode.NotFound, $"container {Id}: not found")));
            Receive<ContainerProtocol.Forgotten>(_ => Context.Stop(Self));
            ReceiveAny(_ => { });
        });
        Stash.UnstashAll();
    }

    private void WithProcess(string execId, Action<ProcessRecord> action)
    {
        if (_processes.TryGetValue(execId, out var process) && process.Phase != Phase.Preparing)
            action(process);
        else
            Sender.Tell(new CommandFailed(FailureCode.NotFound, execId == Init ? $"container {Id}: not found" : $"exec {execId} of container {Id}: not found"));
    }

    private void Reply(string execId, object message)
    {
        if (_pendingReplies.Remove(execId, out var replyTo))
            replyTo.Tell(message);
    }

    private ProcessView View(ProcessRecord p) => new(
        Id, p.ExecId, _create.Bundle, p.Pid, _paused && p.Phase == Phase.Running ? ProcessStatus.Paused : p.Status, p.Stdio, p.ExitStatus, p.ExitedAt);

    private static CommandFailed ToFailure(Exception e) => e switch
    {
        GuestPlanException g => new CommandFailed(g.Code, g.Message),
        OciSpecException or ConfigException => new CommandFailed(FailureCode.InvalidArgument, e.Message),
        MountException { ErrnoName: "ENOENT" or "ENOTDIR" } => new CommandFailed(FailureCode.NotFound, e.Message),
        MountException { ErrnoName: "EINVAL" } => new CommandFailed(FailureCode.InvalidArgument, e.Message),
        MountException => new CommandFailed(FailureCode.Internal, e.Message),
        _ => new CommandFailed(FailureCode.Internal, e.Message),
    };
}
