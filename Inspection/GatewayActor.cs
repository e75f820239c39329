using Akka.Actor;
using Akka.Cluster;
using Akka.Event;

namespace WasmKata.Inspection;

/// <summary>
/// <c>/user/inspection</c> of a shim's inspection system, the only actor reachable over the wire: it checks each
/// request's token, then hands it to the shim's inspection actor (which lives in the shim's own, local-only system)
/// and adds this member's view of the cluster to snapshots.
/// </summary>
internal sealed class GatewayActor : ReceiveActor
{
    private readonly IActorRef _inspection;
    private readonly InspectionKeys _keys;
    private readonly int _pid;
    private readonly int _port;
    private readonly TimeSpan _timeout;
    private readonly ILoggingAdapter _log = Context.GetLogger();

    public GatewayActor(IActorRef inspection, InspectionKeys keys, int pid, int port, TimeSpan timeout)
    {
        _inspection = inspection;
        _keys = keys;
        _pid = pid;
        _port = port;
        _timeout = timeout;
        Receive<InspectionWire.Inspect>(r =>
        {
            if (Authorized(r.Token))
                Inspect();
        });
        Receive<InspectionWire.SubscribeEvents>(r =>
        {
            if (Authorized(r.Token))
                _inspection.Tell(new InspectionProtocol.Subscribe(Sender, TimeSpan.FromSeconds(Math.Clamp(r.LeaseSeconds, 1, 300))));
        });
        Receive<InspectionWire.UnsubscribeEvents>(r =>
        {
            if (Authorized(r.Token))
                _inspection.Tell(new InspectionProtocol.Unsubscribe(Sender));
        });
    }

    public static Props Props(IActorRef inspection, InspectionKeys keys, int pid, int port, TimeSpan timeout) =>
        Akka.Actor.Props.Create(() => new GatewayActor(inspection, keys, pid, port, timeout));

    private bool Authorized(string token)
    {
        if (_keys.Accepts(token, _pid, _port))
            return true;
        _log.Warning("inspection request from {Sender} with a wrong token denied", Sender);
        Sender.Tell(new InspectionWire.Denied("wrong token: the client cannot read the inspection directory"));
        return false;
    }

    private void Inspect()
    {
        var cluster = ClusterOf(Cluster.Get(Context.System));
        _inspection.Ask<ShimSnapshot>(InspectionProtocol.TakeSnapshot.Instance, _timeout)
            .PipeTo(Sender, success: s => new InspectionWire.InspectReply(s with { Shim = s.Shim with { Cluster = cluster } }));
    }

    /// <summary>This member's view of the cluster; pure over the cluster's current state.</summary>
    internal static ClusterView ClusterOf(Cluster cluster)
    {
        var state = cluster.State;
        var unreachable = state.Unreachable.Select(m => m.UniqueAddress).ToHashSet();
        var self = state.Members.FirstOrDefault(m => m.UniqueAddress.Equals(cluster.SelfUniqueAddress));
        return new ClusterView(
            cluster.SelfAddress.ToString(), self?.Status.ToString() ?? "NotJoined",
            state.Members.Select(m => new MemberView(m.Address.ToString(), m.Status.ToString(), !unreachable.Contains(m.UniqueAddress))).ToList());
    }
}
