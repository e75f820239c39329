using Akka.Actor;
using Akka.Event;
using WasmKata.Core;
using WasmKata.Core.Plan;
using static WasmKata.Actors.TaskProtocol;

namespace WasmKata.Actors.Sandbox;

// The sandbox's host cgroup: made from the first container's plan before that container is created (every other message
// waits meanwhile), removed when the shim is about to exit.
internal sealed partial class SandboxActor
{
    /// <summary>Starts placing the shim in the first container's cgroup; false when there is none to make.</summary>
    private bool PlaceInCgroup(CreateTask create, ContainerPlanRead read, ContainerPlan container)
    {
        SandboxCgroupPlan? plan;
        try
        {
            plan = SandboxCgroupPlan.For(container.Spec, container.Config);
        }
        catch (ArgumentException e)
        {
            Sender.Tell(new CommandFailed(FailureCode.InvalidArgument, $"container {create.ContainerId}: {e.Message}"));
            return true;
        }
        _cgroupDecided = true;
        if (plan is null)
            return false;

        var replyTo = Sender;
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        plan.CreateAsync(Environment.ProcessId).PipeTo(Self,
            success: cgroup => new CgroupPlaced(create, read, replyTo, cgroup),
            failure: e => new CgroupFailed(create, replyTo, plan, e.GetBaseException().Message));
        BecomeStacked(() =>
        {
            Receive<CgroupPlaced>(placed =>
            {
                _cgroup = placed.Cgroup;
                _cgroupPlan = placed.Cgroup.Plan;
                _log.Info("sandbox placed in {Driver} cgroup {Path} in {Ms:0.0} ms", placed.Cgroup.Plan.Driver, placed.Cgroup.Plan.Path,
                    System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                UnbecomeStacked();
                SpawnContainer(placed.Create, placed.Read, placed.ReplyTo);
                Stash.UnstashAll();
            });
            Receive<CgroupFailed>(failed =>
            {
                _cgroupDecided = false;
                _log.Warning("cannot create the sandbox's {Driver} cgroup {Path}: {Error}", failed.Plan.Driver, failed.Plan.Path, failed.Message);
                failed.ReplyTo.Tell(new CommandFailed(FailureCode.FailedPrecondition,
                    $"container {failed.Create.ContainerId}: cannot create the sandbox's {failed.Plan.Driver} cgroup {failed.Plan.Path}: {failed.Message}"));
                UnbecomeStacked();
                Stash.UnstashAll();
            });
            ReceiveAny(_ => Stash.Stash());
        });
        return true;
    }

    private void OnQueryCgroupStats()
    {
        var none = new SandboxStatsView(null, null, null, null);
        if (_cgroup is null)
        {
            Sender.Tell(none);
            return;
        }
        // Figures are best effort: a failed read leaves them out rather than failing the container's stats.
        _cgroup.ReadStatsAsync().PipeTo(Sender,
            success: s => new SandboxStatsView(s.MemoryUsageBytes, s.MemoryLimitBytes, s.CpuUsageNs, s.Pids),
            failure: _ => none);
    }

    /// <summary>Moves the shim out of its cgroup and removes it; never fails (a failure is logged).</summary>
    private Task RemoveCgroupAsync()
    {
        var cgroup = _cgroup;
        _cgroup = null;
        if (cgroup is null)
            return Task.CompletedTask;
        var log = _log;
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        return cgroup.RemoveAsync().ContinueWith(t =>
        {
            if (t.IsFaulted)
                log.Error("cannot remove the sandbox's cgroup {Path}: {Error}", cgroup.Plan.Path, t.Exception!.GetBaseException().Message);
            else
                log.Info("removed the sandbox's cgroup {Path} in {Ms:0.0} ms", cgroup.Plan.Path, System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }, TaskScheduler.Default);
    }

    private sealed record CgroupPlaced(CreateTask Create, ContainerPlanRead Read, IActorRef ReplyTo, SandboxCgroup Cgroup);

    private sealed record CgroupFailed(CreateTask Create, IActorRef ReplyTo, SandboxCgroupPlan Plan, string Message);

    private sealed record CgroupRemoved
    {
        public static readonly CgroupRemoved Instance = new();
    }
}
