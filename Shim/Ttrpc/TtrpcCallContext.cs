namespace WasmKata.Shim.Ttrpc;

/// <summary>What a handler knows about the call besides its payload.</summary>
internal sealed class TtrpcCallContext(
    string service,
    string method,
    uint streamId,
    IReadOnlyList<KeyValuePair<string, string>> metadata,
    CancellationToken cancellationToken)
{
    /// <summary>Service name as the client sent it (e.g. containerd.task.v2.Task).</summary>
    public string Service { get; } = service;

    /// <summary>Method name as the client sent it (e.g. Create).</summary>
    public string Method { get; } = method;

    /// <summary>The client's stream id for this call.</summary>
    public uint StreamId { get; } = streamId;

    /// <summary>Request metadata in wire order; a key may repeat.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Metadata { get; } = metadata;

    /// <summary>Cancelled when the client's deadline (timeout_nano) passes or its connection closes.</summary>
    public CancellationToken CancellationToken { get; } = cancellationToken;

    /// <summary>The first value of a metadata key, or null.</summary>
    public string? GetMetadata(string key)
    {
        foreach (var pair in Metadata)
        {
            if (string.Equals(pair.Key, key, StringComparison.OrdinalIgnoreCase))
                return pair.Value;
        }

        return null;
    }
}
