using Akka.Actor;
using Akka.Event;
using WasmKata.Actors.Events;
using WasmKata.Core;
using WasmKata.Core.State;
using static WasmKata.Actors.TaskProtocol;

namespace WasmKata.Actors.Container;

// state.json, kept so that a restarted shim can clean up after a crash, and what a stopping container still owes.
internal sealed partial class ContainerActor
{
    private void Persist(ExecTable execs, bool paused)
    {
        var init = execs.InitProcess;
        _store.Save(new ContainerState
        {
            Id = Id,
            Namespace = _settings.Namespace,
            Bundle = _create.Bundle,
            Rootfs = _rootfs.Path,
            RootfsMounted = _rootfs.IsMounted,
            ShimPid = Environment.ProcessId,
            InitPid = init.Pid,
            Status = (paused && init.Phase == Phase.Running ? ProcessStatus.Paused : init.Status).ToString().ToLowerInvariant(),
            ExitStatus = init.Phase == Phase.Stopped ? init.ExitStatus : null,
            ExitedAt = init.ExitedAt,
            Cgroup = _sandboxCgroup?.Path,
            CgroupDriver = _sandboxCgroup?.Driver,
            SystemdAddress = _sandboxCgroup?.SystemdAddress,
        });
    }

    private void TryPersist(ExecTable execs, bool paused)
    {
        try
        {
            Persist(execs, paused);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _log.Error("{Container}: cannot save state: {Error}", Id, e.Message);
        }
    }

    // Deleted, or never active: a restarted shim has nothing of it to clean up.
    private void ForgetState() => _store.Remove(_settings.Namespace, Id);

    /// <summary>Stopped (failed, or the shim going down) with processes still live: their guests end with us, and
    /// waiters and containerd still get an exit (255) instead of waiting forever.</summary>
    private void ReportLostExits(ExecTable execs)
    {
        var at = DateTimeOffset.UtcNow;
        foreach (var entry in execs.All.Where(e => e.Process.IsLive && e.Process.Phase != Phase.Preparing))
        {
            var process = entry.Process;
            _events.Tell(new TaskExited(Id, process.ExecId == Init ? Id : process.ExecId, process.Pid, ExitStatus.Internal, at));
            foreach (var waiter in entry.Waiters)
                waiter.Tell(new Exited(process.Pid, ExitStatus.Internal, at));
        }
        foreach (var replyTo in execs.All.SelectMany(e => e.Pending))
            replyTo.Tell(new CommandFailed(FailureCode.Internal, $"container {Id} failed"));
    }
}
