using Akka.Actor;
using Akka.Event;
using WasmKata.Actors.Events;
using WasmKata.Actors.WasmProcess;
using WasmKata.Core;
using WasmKata.Core.Hooks;
using WasmKata.Core.Oci;
using WasmKata.Core.Plan;
using static WasmKata.Actors.Container.ContainerProtocol;
using static WasmKata.Actors.TaskProtocol;
using static WasmKata.Actors.WasmProcess.WasmProcessProtocol;

namespace WasmKata.Actors.Container;

// The commands on the container's processes and what their actors report. A handler returns the changed data, or
// null once the container is gone.
internal sealed partial class ContainerActor
{
    private ContainerData OnStart(ContainerData data, StartTask start)
    {
        var next = data;
        WithProcess(data.Execs, start.ExecId, process =>
        {
            if (Lifecycle.CheckStart(process, process.ExecId == Init, data.Execs.InitProcess.Phase) is { } failure)
            {
                Sender.Tell(failure);
                return;
            }
            if (process.ExecId == Init && Plan.Hooks.For(HookKind.StartContainer).Count > 0)
            {
                var replyTo = Sender;
                RunHooks(HookKind.StartContainer, OciStatus.Created, process.Pid).PipeTo(Self,
                    success: _ => new StartHooksPassed(replyTo), failure: e => new StartHooksFailed(replyTo, e.Message));
                return;
            }
            next = StartProcess(data, process, Sender);
        });
        return next;
    }

    private ContainerData StartProcess(ContainerData data, ProcessRecord process, IActorRef replyTo)
    {
        if (process.Phase != Phase.Created)
        {
            replyTo.Tell(RefuseStart(data, process));
            return data;
        }
        var execs = data.Execs.UpdateProcess(process.ExecId, p => p with { Phase = Phase.Running });
        execs[process.ExecId].Actor?.Tell(WasmProcessProtocol.Start.Instance);
        if (process.ExecId == Init)
        {
            TryPersist(execs, paused: false);
            LogFailures(RunHooks(HookKind.Poststart, OciStatus.Running, process.Pid));
        }
        // TaskStart goes out before the process actor can report an exit, so containerd never sees an exit first.
        _events.Tell(process.ExecId == Init
            ? new TaskStarted(Id, process.Pid)
            : new TaskExecStarted(Id, process.ExecId, process.Pid));
        replyTo.Tell(new Started(process.Pid));
        return data with { Execs = execs };
    }

    // Why a start is refused: the lifecycle's reason, or, for one that could start, that the container is paused.
    private CommandFailed RefuseStart(ContainerData data, ProcessRecord process) =>
        Lifecycle.CheckStart(process, process.ExecId == Init, data.Execs.InitProcess.Phase)
        ?? (process.Phase == Phase.Created
            ? new CommandFailed(FailureCode.FailedPrecondition, $"container {Id} is paused")
            : new CommandFailed(FailureCode.Internal, "bad state"));

    // As containerd's runc shim: only a running container pauses; every live process of it stops executing.
    private void SetPaused(ExecTable execs, bool paused)
    {
        foreach (var entry in execs.All.Where(e => e.Process.Phase == Phase.Running))
            entry.Actor?.Tell(paused ? WasmProcessProtocol.Pause.Instance : WasmProcessProtocol.Resume.Instance);
        _log.Info(paused ? "{Container}: paused" : "{Container}: resumed", Id);
        _events.Tell(paused ? new TaskPaused(Id) : new TaskResumed(Id));
        TryPersist(execs, paused);
        Sender.Tell(Done.Instance);
    }

    private ContainerData OnUpdate(ContainerData data, UpdateTask update)
    {
        if (data.Execs.InitProcess.Phase == Phase.Stopped)
        {
            Sender.Tell(new CommandFailed(FailureCode.FailedPrecondition, $"container {Id} has stopped: its resources cannot change"));
            return data;
        }
        ContainerLimits limits;
        try
        {
            limits = data.Limits.With(update.Resources);
        }
        catch (ArgumentException e)
        {
            Sender.Tell(new CommandFailed(FailureCode.InvalidArgument, $"update of container {Id}: {e.Message}"));
            return data;
        }
        _log.Info("{Container}: limits now memory {Memory}, cpu {Cpu}, shares {Shares}", Id, limits.MemoryLimitBytes, limits.Cpu, limits.CpuShares);
        var message = new UpdateLimits(limits.MemoryLimitBytes, limits.Cpu) { CpuShares = limits.CpuShares };
        foreach (var entry in data.Execs.Live)
            entry.Actor?.Tell(message);
        Sender.Tell(Done.Instance);
        return data with { Limits = limits };
    }

    private ContainerData OnWait(ContainerData data, WaitTask wait)
    {
        var next = data;
        WithProcess(data.Execs, wait.ExecId, process =>
        {
            if (process.Phase == Phase.Stopped)
                Sender.Tell(new Exited(process.Pid, process.ExitStatus, process.ExitedAt!.Value));
            else
                next = data with { Execs = data.Execs.Update(process.ExecId, e => e with { Waiters = e.Waiters.Add(Sender) }) };
        });
        return next;
    }

    private void OnKill(ExecTable execs, KillTask kill)
    {
        if (!Lifecycle.IsValidSignal(kill.Signal))
        {
            Sender.Tell(new CommandFailed(FailureCode.InvalidArgument, $"invalid signal {kill.Signal}"));
            return;
        }
        if (kill.All)
        {
            foreach (var entry in execs.Live)
                Signal(entry, kill.Signal);
            Sender.Tell(Done.Instance);
            return;
        }
        WithProcess(execs, kill.ExecId, process =>
        {
            if (Lifecycle.CheckKill(process) is { } failure)
            {
                Sender.Tell(failure);
                return;
            }
            Signal(execs[process.ExecId], kill.Signal);
            Sender.Tell(Done.Instance);
        });
    }

    private static void Signal(ExecEntry entry, int signal)
    {
        if (Lifecycle.Terminates(signal))
            entry.Actor?.Tell(new WasmProcessProtocol.Signal(signal));
    }

    private ContainerData? OnDelete(ContainerData data, DeleteTask delete)
    {
        ContainerData? next = data;
        WithProcess(data.Execs, delete.ExecId, process =>
        {
            if (Lifecycle.CheckDelete(process) is { } failure)
            {
                Sender.Tell(failure);
                return;
            }
            if (process.Phase == Phase.Created)
            {
                // Never started: end it first, as runc does for a created container, and finish when it has exited.
                var replyTo = Sender;
                next = data with { Execs = data.Execs.Update(process.ExecId, e => e with { PendingDelete = replyTo }) };
                Signal(data.Execs[process.ExecId], SignalNumber.Kill);
                return;
            }
            next = FinishDelete(data, process, Sender);
        });
        return next;
    }

    private ContainerData? FinishDelete(ContainerData data, ProcessRecord process, IActorRef replyTo)
    {
        var exited = new Exited(process.Pid, process.ExitStatus, process.ExitedAt ?? DateTimeOffset.UtcNow);
        if (process.ExecId != Init)
        {
            StopActor(data.Execs[process.ExecId]);
            replyTo.Tell(exited);
            return data with { Execs = data.Execs.Without(process.ExecId) };
        }
        foreach (var entry in data.Execs.All)
            StopActor(entry);
        _rootfs.Release();
        ForgetState();
        RunPoststop();
        _events.Tell(new TaskDeleted(Id, "", exited.Pid, exited.ExitStatus, exited.ExitedAt));
        // The sandbox hears that the container is gone before the client hears Delete's answer: containerd's next call
        // is Shutdown, which the sandbox must not refuse for a container that no longer exists (a daemon outlived its
        // last container that way under load).
        BecomeGone(new CommandFailed(FailureCode.NotFound, $"container {Id}: deleted"), data.Execs.Owed);
        replyTo.Tell(exited);
        return null;
    }

    private ContainerData OnAddExec(ContainerData data, AddExec add)
    {
        if (Lifecycle.CheckAddExec(data.Execs.Processes, add.ExecId, data.Execs.InitProcess.Phase) is { } failure)
        {
            Sender.Tell(failure);
            return data;
        }
        try
        {
            var (module, config) = PlanGuest(OciJson.ParseProcess(add.ProcessJson), data.Limits);
            return data with { Execs = Spawn(data.Execs, add.ExecId, module, config, add.Stdio, data.Limits, Sender) };
        }
        catch (Exception e)
        {
            Sender.Tell(ToFailure(e));
            return data;
        }
    }

    private ContainerData OnExecReady(ContainerData data, ProcessReady ready)
    {
        var execs = data.Execs.UpdateProcess(ready.ExecId, p => p with { Pid = ready.Pid, Phase = Phase.Created });
        _events.Tell(new TaskExecAdded(Id, ready.ExecId));
        return data with { Execs = Reply(execs, ready.ExecId, Done.Instance) };
    }

    private ContainerData OnExecFailed(ContainerData data, ProcessFailed failed)
    {
        if (!data.Execs.TryGet(failed.ExecId, out var entry))
            return data;
        StopActor(entry);
        entry.PendingReply?.Tell(failed.Failure);
        return data with { Execs = data.Execs.Without(failed.ExecId) };
    }

    private ContainerData? OnExited(ContainerData data, ProcessExited exited)
    {
        if (exited.ExecId == Init && data.Execs.HasLiveExecs)
        {
            // Like a pid namespace losing its init: the execs die too, and their exits go out before init's.
            foreach (var exec in data.Execs.Live.Where(e => e.ExecId != Init))
                Signal(exec, SignalNumber.Kill);
            return data with { HeldInitExit = exited };
        }
        if (Record(data, exited) is not { } next)
            return null;
        if (next.HeldInitExit is { } held && !next.Execs.HasLiveExecs)
            return Record(next with { HeldInitExit = null }, held);
        return next;
    }

    private ContainerData? Record(ContainerData data, ProcessExited exited)
    {
        if (!data.Execs.TryGet(exited.ExecId, out var entry))
            return data;
        var process = entry.Process with { Phase = Phase.Stopped, ExitStatus = exited.ExitStatus, ExitedAt = exited.ExitedAt };
        var execs = data.Execs.With(entry with { Process = process, Waiters = [], PendingDelete = null });
        if (exited.ExecId == Init)
            TryPersist(execs, paused: false);
        _log.Info("{Container}/{Exec}: exited with status {Status}", Id, exited.ExecId.Length == 0 ? "init" : exited.ExecId, exited.ExitStatus);
        _events.Tell(new TaskExited(Id, exited.ExecId == Init ? Id : exited.ExecId, process.Pid, exited.ExitStatus, exited.ExitedAt));
        var reply = new Exited(process.Pid, exited.ExitStatus, exited.ExitedAt);
        foreach (var waiter in entry.Waiters)
            waiter.Tell(reply);
        var next = data with { Execs = execs };
        return entry.PendingDelete is { } deleter ? FinishDelete(next, process, deleter) : next;
    }

    private ContainerData? OnTerminated(ContainerData data, Terminated terminated)
    {
        // A process actor died without reporting its exit (a bug or a crash): the exit status must not be lost.
        if (data.Execs.ExecOf(terminated.ActorRef) is not { } execId)
            return data;
        var process = data.Execs[execId].Process;
        data = data with { Execs = data.Execs.Update(execId, e => e with { Actor = null }) };
        _log.Error("{Container}/{Exec}: process actor stopped unexpectedly", Id, execId);
        if (process.Phase == Phase.Preparing)
            return OnExecFailed(data, new ProcessFailed(execId, new CommandFailed(FailureCode.Internal, "process failed while being created")));
        if (process.IsLive)
            return OnExited(data, new ProcessExited(execId, process.Pid, ExitStatus.Internal, DateTimeOffset.UtcNow, "process actor failed"));
        return data;
    }

    private ExecTable Spawn(ExecTable execs, string execId, string module, GuestConfig config, Stdio stdio, ContainerLimits limits, IActorRef replyTo)
    {
        var launch = new Launch(Id, execId, module, config, stdio) { Namespaces = _namespaces, Cpu = limits.Cpu, CpuShares = limits.CpuShares };
        var name = execId == Init ? "init" : $"exec-{++_execCounter}";
        var actor = Context.ActorOf(WasmProcessProtocol.Props(launch, _engine, _settings), name);
        Context.Watch(actor);
        return execs.With(new ExecEntry(new ProcessRecord(execId, 0, Phase.Preparing, stdio), actor, [], replyTo));
    }

    private static void StopActor(ExecEntry entry)
    {
        if (entry.Actor is not { } actor)
            return;
        Context.Unwatch(actor);
        Context.Stop(actor);
    }
}
