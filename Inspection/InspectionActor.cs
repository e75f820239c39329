using Akka.Actor;
using Akka.Event;
using WasmKata.Actors.Events;
using static WasmKata.Inspection.InspectionProtocol;

namespace WasmKata.Inspection;

/// <summary>
/// Answers snapshots (one <see cref="SnapshotActor"/> per request) and relays task events to leased subscribers.
/// It listens to the event stream from the shim's start, so it knows when each process started even if the
/// inspection cluster came up later; the tree itself it only reads, with the commands its actors already answer.
/// </summary>
internal sealed class InspectionActor : ReceiveActor, IWithTimers
{
    private readonly string _sandboxPath;
    private readonly ShimIdentity _identity;
    private readonly InspectionSettings _settings;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Dictionary<string, DateTimeOffset> _startedAt = [];
    private readonly Dictionary<IActorRef, DateTimeOffset> _subscribers = [];

    public InspectionActor(string sandboxPath, ShimIdentity identity, InspectionSettings settings)
    {
        _sandboxPath = sandboxPath;
        _identity = identity;
        _settings = settings;
        Receive<TakeSnapshot>(_ => Context.ActorOf(
            InspectionProtocol.Snapshot(_sandboxPath, _identity, _settings, new Dictionary<string, DateTimeOffset>(_startedAt), Sender)));
        Receive<ShimEvent>(OnEvent);
        Receive<Subscribe>(s =>
        {
            _subscribers[s.Subscriber] = DateTimeOffset.UtcNow + s.Lease;
            s.Subscriber.Tell(new InspectionWire.Subscribed(_identity.Pid, _identity.Id));
        });
        Receive<Unsubscribe>(u => _subscribers.Remove(u.Subscriber));
        Receive<PurgeLeases>(_ =>
        {
            var now = DateTimeOffset.UtcNow;
            foreach (var expired in _subscribers.Where(s => s.Value < now).Select(s => s.Key).ToList())
                _subscribers.Remove(expired);
        });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>The key under which a process's start time is kept.</summary>
    internal static string Key(string containerId, string execId) => containerId + "\0" + execId;

    protected override void PreStart()
    {
        Context.System.EventStream.Subscribe(Self, typeof(ShimEvent));
        Timers.StartPeriodicTimer("leases", PurgeLeases.Instance, _settings.LeaseCheckInterval);
    }

    protected override void PostStop() => Context.System.EventStream.Unsubscribe(Self);

    private void OnEvent(ShimEvent shimEvent)
    {
        var view = ToView(shimEvent);
        switch (shimEvent)
        {
            case TaskStarted:
            case TaskExecStarted:
                _startedAt[Key(view.ContainerId, view.ExecId)] = shimEvent.Timestamp;
                break;
            case TaskDeleted when view.ExecId.Length == 0:
                foreach (var key in _startedAt.Keys.Where(k => k.StartsWith(view.ContainerId + "\0", StringComparison.Ordinal)).ToList())
                    _startedAt.Remove(key);
                break;
            case TaskDeleted:
                _startedAt.Remove(Key(view.ContainerId, view.ExecId));
                break;
        }
        foreach (var subscriber in _subscribers.Keys)
        {
            try
            {
                subscriber.Tell(new InspectionWire.Event(view));
            }
            catch (Exception e)
            {
                // A remote subscriber whose transport is gone must not take the recorded start times down with it.
                _log.Warning("dropping event subscriber {Subscriber}: {Error}", subscriber, e.Message);
                _subscribers.Remove(subscriber);
                break;
            }
        }
    }

    private EventView ToView(ShimEvent e) => e switch
    {
        TaskCreated c => View(e, c.ContainerId, "", c.Pid, null),
        TaskStarted s => View(e, s.ContainerId, "", s.Pid, null),
        TaskExited x => View(e, x.ContainerId, x.Id == x.ContainerId ? "" : x.Id, x.Pid, x.ExitStatus),
        TaskDeleted d => View(e, d.ContainerId, d.Id, d.Pid, d.ExitStatus),
        TaskExecAdded a => View(e, a.ContainerId, a.ExecId, 0, null),
        TaskExecStarted es => View(e, es.ContainerId, es.ExecId, es.Pid, null),
        TaskOom o => View(e, o.ContainerId, "", 0, null),
        TaskPaused p => View(e, p.ContainerId, "", 0, null),
        TaskResumed r => View(e, r.ContainerId, "", 0, null),
        _ => View(e, "", "", 0, null),
    };

    private EventView View(ShimEvent e, string containerId, string execId, uint pid, uint? exitStatus) =>
        new(_identity.Pid, _identity.Id, e.Topic, containerId, execId, pid, exitStatus, e.Timestamp);
}
