using System.Collections.Concurrent;

namespace WasmKata.Shim.Ttrpc;

/// <summary>Handlers by service and method; safe to add to while calls are being served.</summary>
internal sealed class TtrpcHandlerRegistry
{
    private readonly ConcurrentDictionary<string, ConcurrentDictionary<string, TtrpcHandler>> _services = new(StringComparer.Ordinal);

    /// <summary>Adds or replaces the handler of <paramref name="service"/>/<paramref name="method"/>.</summary>
    public void Add(string service, string method, TtrpcHandler handler)
    {
        ArgumentException.ThrowIfNullOrEmpty(service);
        ArgumentException.ThrowIfNullOrEmpty(method);
        ArgumentNullException.ThrowIfNull(handler);
        _services.GetOrAdd(service, static _ => new(StringComparer.Ordinal))[method] = handler;
    }

    /// <summary>Finds the handler, or the Unimplemented status ttrpc answers for a missing service or method.</summary>
    public TtrpcHandler Resolve(string service, string method)
    {
        if (!_services.TryGetValue(service, out var methods))
            throw new TtrpcException(StatusCode.Unimplemented, "service " + service);

        return methods.TryGetValue(method, out var handler)
            ? handler
            : throw new TtrpcException(StatusCode.Unimplemented, "method " + method);
    }
}
