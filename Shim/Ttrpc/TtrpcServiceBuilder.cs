using Google.Protobuf;

namespace WasmKata.Shim.Ttrpc;

/// <summary>Registers methods under one or more service names at once (the task API is served as both v2 and v3).</summary>
internal sealed class TtrpcServiceBuilder
{
    private readonly TtrpcHandlerRegistry _registry;
    private readonly string[] _serviceNames;

    internal TtrpcServiceBuilder(TtrpcHandlerRegistry registry, string[] serviceNames)
    {
        ArgumentNullException.ThrowIfNull(serviceNames);
        if (serviceNames.Length == 0)
            throw new ArgumentException("at least one service name is needed", nameof(serviceNames));

        _registry = registry;
        _serviceNames = serviceNames;
    }

    /// <summary>Adds a raw handler under every service name.</summary>
    public TtrpcServiceBuilder Register(string method, Func<ReadOnlyMemory<byte>, TtrpcCallContext, Task<IMessage?>> handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        var raw = new TtrpcHandler(handler);
        foreach (var service in _serviceNames)
            _registry.Add(service, method, raw);

        return this;
    }

    /// <summary>Adds a typed handler under every service name.</summary>
    public TtrpcServiceBuilder Register<TRequest, TResponse>(string method, Func<TRequest, TtrpcCallContext, Task<TResponse>> handler)
        where TRequest : IMessage<TRequest>, new()
        where TResponse : IMessage
    {
        var raw = TtrpcHandlers.Typed(handler);
        foreach (var service in _serviceNames)
            _registry.Add(service, method, raw);

        return this;
    }
}
