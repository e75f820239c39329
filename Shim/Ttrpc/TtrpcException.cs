namespace WasmKata.Shim.Ttrpc;

/// <summary>A call failed with a ttrpc status: thrown by handlers to choose the reply, and by the client on a non-OK reply.</summary>
internal sealed class TtrpcException(StatusCode code, string message) : Exception(message)
{
    /// <summary>The status code sent (or received) on the wire.</summary>
    public StatusCode Code { get; } = code;
}
