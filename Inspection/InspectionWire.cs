namespace WasmKata.Inspection;

/// <summary>A message that crosses Akka.Remote between a shim's inspection gateway and the CLI.</summary>
public interface IInspectionWire;

/// <summary>
/// The wire protocol of <c>/user/inspection</c> in a shim's inspection system. Every request carries the token that
/// only readers of the live-address directory can compute; a wrong one is answered <see cref="Denied"/>.
/// </summary>
public static class InspectionWire
{
    /// <summary>The actor name of the gateway in every shim's inspection system.</summary>
    public const string GatewayName = "inspection";

    /// <summary>Ask for a snapshot. Replies <see cref="InspectReply"/> or <see cref="Denied"/>.</summary>
    public sealed record Inspect(string Token) : IInspectionWire;

    /// <summary>Reply to <see cref="Inspect"/>.</summary>
    public sealed record InspectReply(ShimSnapshot Snapshot) : IInspectionWire;

    /// <summary>Subscribe the sender to the task events, or renew its lease. Replies <see cref="Subscribed"/> or <see cref="Denied"/>.</summary>
    public sealed record SubscribeEvents(string Token, int LeaseSeconds) : IInspectionWire;

    /// <summary>Reply to <see cref="SubscribeEvents"/>: the events of this shim now go to the sender.</summary>
    public sealed record Subscribed(int ShimPid, string ShimId) : IInspectionWire;

    /// <summary>Stop sending events to the sender.</summary>
    public sealed record UnsubscribeEvents(string Token) : IInspectionWire;

    /// <summary>One task event; the payload is the local <see cref="Inspection.EventView"/>.</summary>
    public sealed record Event(EventView View) : IInspectionWire;

    /// <summary>The request's token was wrong: the client cannot read the live-address directory.</summary>
    public sealed record Denied(string Reason) : IInspectionWire;
}
