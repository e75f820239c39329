using WasmKata.Linux.Mounts;

namespace WasmKata.Actors.Events;

/// <summary>A task event for containerd, in the order the shim decided; the wire form lives in the shim.</summary>
public abstract record ShimEvent(string Topic)
{
    /// <summary>When the event happened (containerd rejects events without a timestamp).</summary>
    public DateTimeOffset Timestamp { get; init; } = DateTimeOffset.UtcNow;
}

/// <summary>The stdio paths a task was created with.</summary>
public sealed record TaskIo(string Stdin, string Stdout, string Stderr, bool Terminal);

/// <summary><c>/tasks/create</c>.</summary>
public sealed record TaskCreated(string ContainerId, string Bundle, IReadOnlyList<MountSpec> Rootfs, TaskIo Io, uint Pid)
    : ShimEvent("/tasks/create");

/// <summary><c>/tasks/start</c>.</summary>
public sealed record TaskStarted(string ContainerId, uint Pid) : ShimEvent("/tasks/start");

/// <summary><c>/tasks/exit</c>; <paramref name="Id"/> is the container id for init, the exec id for an exec.</summary>
public sealed record TaskExited(string ContainerId, string Id, uint Pid, uint ExitStatus, DateTimeOffset ExitedAt)
    : ShimEvent("/tasks/exit");

/// <summary><c>/tasks/delete</c>; <paramref name="Id"/> is empty for init.</summary>
public sealed record TaskDeleted(string ContainerId, string Id, uint Pid, uint ExitStatus, DateTimeOffset ExitedAt)
    : ShimEvent("/tasks/delete");

/// <summary><c>/tasks/exec-added</c>.</summary>
public sealed record TaskExecAdded(string ContainerId, string ExecId) : ShimEvent("/tasks/exec-added");

/// <summary><c>/tasks/exec-started</c>.</summary>
public sealed record TaskExecStarted(string ContainerId, string ExecId, uint Pid) : ShimEvent("/tasks/exec-started");

/// <summary><c>/tasks/oom</c>.</summary>
public sealed record TaskOom(string ContainerId) : ShimEvent("/tasks/oom");

/// <summary><c>/tasks/paused</c>.</summary>
public sealed record TaskPaused(string ContainerId) : ShimEvent("/tasks/paused");

/// <summary><c>/tasks/resumed</c>.</summary>
public sealed record TaskResumed(string ContainerId) : ShimEvent("/tasks/resumed");

/// <summary>Where events leave the shim: containerd's event service, or a probe in specs.</summary>
public interface IEventSink
{
    /// <summary>Delivers one event; throws when it could not be delivered (the publisher retries).</summary>
    Task PublishAsync(ShimEvent shimEvent, CancellationToken cancellationToken);
}
