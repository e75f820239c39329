using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using WasmKata.Actors.Events;
using WasmKata.Core.Protos.EventsService;
using WasmKata.Linux.Mounts;
using Wire = WasmKata.Core.Protos.Events;
using WireTypes = WasmKata.Core.Protos.Types;

namespace WasmKata.Shim.Events;

/// <summary>Turns a <see cref="ShimEvent"/> into the containerd.events message and the envelope containerd's Forward takes.</summary>
internal static class TaskEventEnvelopes
{
    /// <summary>The envelope for <paramref name="shimEvent"/> in namespace <paramref name="ns"/>.</summary>
    public static Envelope ToEnvelope(ShimEvent shimEvent, string ns)
    {
        ArgumentNullException.ThrowIfNull(shimEvent);
        return new Envelope
        {
            Timestamp = Timestamp.FromDateTimeOffset(shimEvent.Timestamp),
            Namespace = ns,
            Topic = shimEvent.Topic,
            Event = Pack(ToMessage(shimEvent)),
        };
    }

    /// <summary>
    /// Packs with the bare full name as type URL: containerd 1.6 resolves event types by that name only,
    /// and Any.Pack would add a type.googleapis.com/ prefix.
    /// </summary>
    public static Any Pack(IMessage message) => new()
    {
        TypeUrl = message.Descriptor.FullName,
        Value = message.ToByteString(),
    };

    /// <summary>The containerd.events message for an event.</summary>
    public static IMessage ToMessage(ShimEvent shimEvent) => shimEvent switch
    {
        TaskCreated e => new Wire.TaskCreate
        {
            ContainerId = e.ContainerId,
            Bundle = e.Bundle,
            Rootfs = { e.Rootfs.Select(ToMount) },
            Io = new Wire.TaskIO { Stdin = e.Io.Stdin, Stdout = e.Io.Stdout, Stderr = e.Io.Stderr, Terminal = e.Io.Terminal },
            Pid = e.Pid,
        },
        TaskStarted e => new Wire.TaskStart { ContainerId = e.ContainerId, Pid = e.Pid },
        TaskExited e => new Wire.TaskExit
        {
            ContainerId = e.ContainerId,
            Id = e.Id,
            Pid = e.Pid,
            ExitStatus = e.ExitStatus,
            ExitedAt = Timestamp.FromDateTimeOffset(e.ExitedAt),
        },
        TaskDeleted e => new Wire.TaskDelete
        {
            ContainerId = e.ContainerId,
            Id = e.Id,
            Pid = e.Pid,
            ExitStatus = e.ExitStatus,
            ExitedAt = Timestamp.FromDateTimeOffset(e.ExitedAt),
        },
        TaskExecAdded e => new Wire.TaskExecAdded { ContainerId = e.ContainerId, ExecId = e.ExecId },
        TaskExecStarted e => new Wire.TaskExecStarted { ContainerId = e.ContainerId, ExecId = e.ExecId, Pid = e.Pid },
        TaskOom e => new Wire.TaskOOM { ContainerId = e.ContainerId },
        TaskPaused e => new Wire.TaskPaused { ContainerId = e.ContainerId },
        TaskResumed e => new Wire.TaskResumed { ContainerId = e.ContainerId },
        _ => throw new ArgumentException($"no containerd event for {shimEvent.GetType().Name}", nameof(shimEvent)),
    };

    private static WireTypes.Mount ToMount(MountSpec mount) => new()
    {
        Type = mount.Type,
        Source = mount.Source,
        Target = mount.Target,
        Options = { mount.Options },
    };
}
