using System.Collections.Immutable;
using Akka.Actor;
using Akka.Cluster;
using Akka.Event;

namespace WasmKata.Inspection;

/// <summary>
/// Keeps this shim in the host's inspection cluster, with the live-address directory as the only source of truth:
/// it joins the live shims (the oldest entry forms the cluster, so racing shims never wait on each other), retries
/// with fresh seeds until it is a member, and downs an unreachable member once its process is gone. Nothing is
/// ever downed on a timeout alone, so a slow shim is never thrown out, and no split-brain resolver is needed.
/// </summary>
internal sealed class ClusterJanitorActor : ReceiveActor, IWithTimers
{
    private readonly InspectionDirectory _directory;
    private readonly TimeSpan _rejoinAfter;
    private readonly Cluster _cluster = Cluster.Get(Context.System);
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly TimeSpan _interval;
    private DateTimeOffset _joinAttemptAt = DateTimeOffset.MinValue;

    public ClusterJanitorActor(InspectionDirectory directory, TimeSpan interval, TimeSpan rejoinAfter)
    {
        _directory = directory;
        _rejoinAfter = rejoinAfter;
        Receive<Tick>(_ => OnTick());
        Receive<ClusterEvent.UnreachableMember>(_ => OnTick());
        Receive<ClusterEvent.IClusterDomainEvent>(_ => { });
        _interval = interval;
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(InspectionDirectory directory, TimeSpan interval, TimeSpan rejoinAfter) =>
        Akka.Actor.Props.Create(() => new ClusterJanitorActor(directory, interval, rejoinAfter));

    /// <summary>Seeds in the order that decides who forms the cluster: the oldest live entry first.</summary>
    internal static ImmutableList<Address> Seeds(IEnumerable<ShimEntry> live) =>
        live.OrderBy(e => e.RegisteredAt).ThenBy(e => e.Pid).Select(e => InspectionRemoting.AddressOf(e.Port)).ToImmutableList();

    /// <summary>Unreachable members that no live entry claims: their shim is gone.</summary>
    internal static IReadOnlyList<Address> Gone(IEnumerable<Address> unreachable, IEnumerable<ShimEntry> live)
    {
        var ports = live.Select(e => e.Port).ToHashSet();
        return unreachable.Where(a => a.Port is not { } port || !ports.Contains(port)).ToList();
    }

    protected override void PreStart()
    {
        _cluster.Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents, typeof(ClusterEvent.UnreachableMember));
        Timers.StartPeriodicTimer("tick", Tick.Instance, _interval);
        Self.Tell(Tick.Instance);
    }

    protected override void PostStop() => _cluster.Unsubscribe(Self);

    private void OnTick()
    {
        IReadOnlyList<ShimEntry> live;
        try
        {
            // Dormant shims are not members (yet).
            live = _directory.LiveEntries().Where(e => !e.Dormant).ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _log.Warning("cannot read the inspection directory {Directory}: {Error}", _directory.Path, e.Message);
            return;
        }
        var state = _cluster.State;
        var member = state.Members.Any(m => m.UniqueAddress.Equals(_cluster.SelfUniqueAddress));
        if (!member && DateTimeOffset.UtcNow - _joinAttemptAt >= _rejoinAfter)
        {
            var seeds = Seeds(live);
            if (!seeds.Contains(_cluster.SelfAddress))
                seeds = seeds.Add(_cluster.SelfAddress);
            _log.Debug("joining the inspection cluster through {Seeds}", string.Join(", ", seeds));
            _cluster.JoinSeedNodes(seeds);
            _joinAttemptAt = DateTimeOffset.UtcNow;
        }
        foreach (var address in Gone(state.Unreachable.Select(m => m.Address), live))
        {
            _log.Info("downing {Address}: its shim is no longer running", address);
            _cluster.Down(address);
        }
    }

    private sealed record Tick
    {
        public static readonly Tick Instance = new();
    }
}
