using System.Collections.Concurrent;
using Google.Protobuf.WellKnownTypes;
using WasmKata.Core.Protos.EventsService;
using WasmKata.Shim.Events;
using WasmKata.Shim.Ttrpc;
using Xunit;

namespace WasmKata.Specs.Shim;

/// <summary>containerd's ttrpc events service as far as a shim sees it: records every Forward.</summary>
internal sealed class FakeEventsServer : IAsyncDisposable
{
    private readonly TtrpcServer _server;
    private readonly SemaphoreSlim _arrived = new(0);

    public FakeEventsServer(string socketPath)
    {
        _server = new TtrpcServer(UnixSocketDir.Listen(socketPath));
        _server.Register<ForwardRequest, Empty>(TtrpcEventSink.ServiceName, TtrpcEventSink.ForwardMethod, (request, context) =>
        {
            Received.Enqueue(new Forwarded(request, context.Metadata.ToList(), context.StreamId, context.CancellationToken.CanBeCanceled));
            _arrived.Release();
            return Task.FromResult(new Empty());
        });
        _ = _server.RunAsync();
    }

    public ConcurrentQueue<Forwarded> Received { get; } = new();

    /// <summary>Waits for the next recorded Forward.</summary>
    public async Task<Forwarded> NextAsync()
    {
        await _arrived.WaitAsync(RawTtrpc.Patience);
        Assert.True(Received.TryDequeue(out var forwarded));
        return forwarded;
    }

    public ValueTask DisposeAsync() => _server.DisposeAsync();
}

/// <summary>One Forward call as the fake server saw it.</summary>
internal sealed record Forwarded(ForwardRequest Request, List<KeyValuePair<string, string>> Metadata, uint StreamId, bool HadDeadline);
