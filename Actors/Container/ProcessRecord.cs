using WasmKata.Core;

namespace WasmKata.Actors.Container;

/// <summary>Where a process is in its life, finer than what containerd sees.</summary>
public enum Phase
{
    /// <summary>Module loading and instantiation under way; not yet visible to containerd.</summary>
    Preparing,
    /// <summary>Instantiated, waiting for Start.</summary>
    Created,
    /// <summary>Executing.</summary>
    Running,
    /// <summary>Exited and its output drained; exit status known.</summary>
    Stopped,
}

/// <summary>What a container knows of one of its processes; replaced, never mutated.</summary>
public sealed record ProcessRecord(
    string ExecId, uint Pid, Phase Phase, TaskProtocol.Stdio Stdio, uint ExitStatus = 0, DateTimeOffset? ExitedAt = null)
{
    /// <summary>The status containerd is shown.</summary>
    public ProcessStatus Status => Phase switch
    {
        Phase.Preparing or Phase.Created => ProcessStatus.Created,
        Phase.Running => ProcessStatus.Running,
        _ => ProcessStatus.Stopped,
    };

    /// <summary>True while a guest may still run (it has not exited).</summary>
    public bool IsLive => Phase != Phase.Stopped;
}

/// <summary>The lifecycle rules of a process, as pure functions; every illegal call gets a precise failure.</summary>
public static class Lifecycle
{
    /// <summary>Whether <paramref name="process"/> may start, given whether init is running (execs need it).</summary>
    public static CommandFailed? CheckStart(ProcessRecord process, bool isInit, Phase initPhase) => process.Phase switch
    {
        Phase.Created when isInit || initPhase == Phase.Running => null,
        Phase.Created => new CommandFailed(FailureCode.FailedPrecondition, "cannot start an exec: the container's init process is not running"),
        Phase.Preparing => new CommandFailed(FailureCode.FailedPrecondition, "process is still being created"),
        Phase.Running => new CommandFailed(FailureCode.FailedPrecondition, "process already started"),
        _ => new CommandFailed(FailureCode.FailedPrecondition, "process already finished"),
    };

    /// <summary>Whether a signal may be sent (containerd expects NotFound for a finished process).</summary>
    public static CommandFailed? CheckKill(ProcessRecord process) => process.Phase == Phase.Stopped
        ? new CommandFailed(FailureCode.NotFound, "process already finished: not found")
        : null;

    /// <summary>Whether the process may be deleted: never while it runs (a created one is killed first).</summary>
    public static CommandFailed? CheckDelete(ProcessRecord process) => process.Phase switch
    {
        Phase.Running => new CommandFailed(FailureCode.FailedPrecondition, "cannot delete a running process"),
        Phase.Preparing => new CommandFailed(FailureCode.FailedPrecondition, "process is still being created"),
        _ => null,
    };

    /// <summary>Whether an exec may be added to a container whose init is in <paramref name="initPhase"/>.</summary>
    public static CommandFailed? CheckAddExec(IReadOnlyDictionary<string, ProcessRecord> processes, string execId, Phase initPhase)
    {
        if (string.IsNullOrEmpty(execId))
            return new CommandFailed(FailureCode.InvalidArgument, "exec id must not be empty");
        if (processes.ContainsKey(execId))
            return new CommandFailed(FailureCode.AlreadyExists, $"exec {execId} already exists");
        return initPhase == Phase.Stopped
            ? new CommandFailed(FailureCode.FailedPrecondition, "cannot exec in a stopped container")
            : null;
    }

    /// <summary>Whether the container may pause: as containerd's runc shim, only a running one that is not paused yet.</summary>
    public static CommandFailed? CheckPause(Phase initPhase, bool paused) => (initPhase, paused) switch
    {
        (Phase.Running, false) => null,
        (Phase.Running, true) => new CommandFailed(FailureCode.FailedPrecondition, "cannot pause a paused container"),
        (Phase.Stopped, _) => new CommandFailed(FailureCode.FailedPrecondition, "cannot pause a stopped container"),
        _ => new CommandFailed(FailureCode.FailedPrecondition, "cannot pause task in created state"),
    };

    /// <summary>Whether the container may resume: only a paused one.</summary>
    public static CommandFailed? CheckResume(Phase initPhase, bool paused) => (initPhase, paused) switch
    {
        (Phase.Running, true) => null,
        (Phase.Running, false) => new CommandFailed(FailureCode.FailedPrecondition, "cannot resume a running container"),
        (Phase.Stopped, _) => new CommandFailed(FailureCode.FailedPrecondition, "cannot resume a stopped container"),
        _ => new CommandFailed(FailureCode.FailedPrecondition, "cannot resume task in created state"),
    };

    /// <summary>What a signal does to a guest: nothing (ignored by default, or the existence probe 0), or an end.</summary>
    public static bool Terminates(int signal) => signal switch
    {
        0 => false,
        // Their default action is to ignore.
        SignalNumber.Chld or SignalNumber.Cont or SignalNumber.Urg or SignalNumber.Winch => false,
        // Stop signals: pausing a guest is the Pause RPC's job.
        SignalNumber.Stop or SignalNumber.Tstp or SignalNumber.Ttin or SignalNumber.Ttou => false,
        _ => signal is > 0 and <= SignalNumber.Max,
    };

    /// <summary>A signal number containerd may send.</summary>
    public static bool IsValidSignal(int signal) => signal is >= 0 and <= SignalNumber.Max;
}
