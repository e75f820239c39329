using System.Net.Sockets;
using Google.Protobuf.WellKnownTypes;
using WasmKata.Actors.Events;
using WasmKata.Core.Protos.EventsService;
using WasmKata.Shim.Ttrpc;

namespace WasmKata.Shim.Events;

/// <summary>
/// Forwards task events to containerd's ttrpc events service (TTRPC_ADDRESS) over one persistent connection,
/// reconnecting once when it finds the connection closed. One caller at a time: the event publisher is serial.
/// </summary>
internal sealed class TtrpcEventSink : IEventSink, IAsyncDisposable
{
    /// <summary>containerd's ttrpc events service.</summary>
    public const string ServiceName = "containerd.services.events.ttrpc.v1.Events";

    /// <summary>The one method shims call on it.</summary>
    public const string ForwardMethod = "Forward";

    /// <summary>Metadata key runc sends the namespace under.</summary>
    public const string NamespaceHeader = "containerd-namespace-ttrpc";

    private static readonly TimeSpan DefaultCallTimeout = TimeSpan.FromSeconds(5);

    private readonly string _socketPath;
    private readonly string _namespace;
    private readonly TimeSpan _callTimeout;
    private readonly KeyValuePair<string, string>[] _metadata;
    private TtrpcClient? _client;

    /// <param name="ttrpcAddress">containerd's ttrpc socket path, with or without unix://.</param>
    /// <param name="ns">The containerd namespace every event belongs to.</param>
    /// <param name="callTimeout">Deadline per Forward; 5 s as runc uses.</param>
    public TtrpcEventSink(string ttrpcAddress, string ns, TimeSpan? callTimeout = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(ttrpcAddress);
        ArgumentException.ThrowIfNullOrEmpty(ns);
        _socketPath = ttrpcAddress.StartsWith("unix://", StringComparison.Ordinal) ? ttrpcAddress["unix://".Length..] : ttrpcAddress;
        _namespace = ns;
        _callTimeout = callTimeout ?? DefaultCallTimeout;
        _metadata = [new(NamespaceHeader, ns)];
    }

    /// <summary>How long one Forward may take once the daemon is exiting.</summary>
    private static readonly TimeSpan ExitingCallTimeout = TimeSpan.FromMilliseconds(300);

    private readonly CancellationTokenSource _abandoned = new();

    /// <summary>
    /// The daemon is exiting (a signal, or containerd gone): from now on an event gets one short try and is dropped when
    /// it cannot be delivered, and a call under way is given up, so that flushing the events cannot hold up the exit.
    /// </summary>
    public void Abandon()
    {
        try
        {
            _abandoned.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Already gone.
        }
    }

    /// <summary>True once <see cref="Abandon"/> was called.</summary>
    public bool IsAbandoned => _abandoned.IsCancellationRequested;

    /// <summary>
    /// Sends one event; throws when it could not be delivered even after one reconnect. Once abandoned, returns after
    /// one short try whether or not it was delivered.
    /// </summary>
    public async Task PublishAsync(ShimEvent shimEvent, CancellationToken cancellationToken)
    {
        var request = new ForwardRequest { Envelope = TaskEventEnvelopes.ToEnvelope(shimEvent, _namespace) };
        if (IsAbandoned)
        {
            try
            {
                using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                bounded.CancelAfter(ExitingCallTimeout);
                var client = _client ??= await TtrpcClient.ConnectAsync(_socketPath, bounded.Token).ConfigureAwait(false);
                await client.CallAsync<ForwardRequest, Empty>(
                    ServiceName, ForwardMethod, request, ExitingCallTimeout, _metadata, bounded.Token).ConfigureAwait(false);
            }
            catch (Exception)
            {
                // Exiting: an event containerd cannot take now is dropped.
            }

            return;
        }

        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _abandoned.Token);
        try
        {
            await PublishOnceAsync(request, linked.Token).ConfigureAwait(false);
        }
        catch (Exception) when (IsAbandoned && !cancellationToken.IsCancellationRequested)
        {
            // Given up because the daemon is exiting.
        }
    }

    private async Task PublishOnceAsync(ForwardRequest request, CancellationToken cancellationToken)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                var client = _client ??= await TtrpcClient.ConnectAsync(_socketPath, cancellationToken).ConfigureAwait(false);
                await client.CallAsync<ForwardRequest, Empty>(
                    ServiceName, ForwardMethod, request, _callTimeout, _metadata, cancellationToken).ConfigureAwait(false);
                return;
            }
            catch (Exception ex) when (attempt == 0 && IsConnectionFailure(ex) && !cancellationToken.IsCancellationRequested)
            {
                // containerd restarted or dropped us: the first write on a dead connection fails, a fresh one works.
                await DropClientAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (IsConnectionFailure(ex))
            {
                await DropClientAsync().ConfigureAwait(false);
                throw;
            }
        }
    }

    /// <summary>
    /// Connects ahead of the first event, so it does not wait for the connection; a failure is left for
    /// <see cref="PublishAsync"/> to retry. Call before any event is published.
    /// </summary>
    public async Task ConnectAsync(CancellationToken cancellationToken)
    {
        if (_client is not null)
            return;
        try
        {
            _client = await TtrpcClient.ConnectAsync(_socketPath, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsConnectionFailure(ex) || ex is OperationCanceledException)
        {
            // PublishAsync connects again.
        }
    }

    /// <summary>
    /// Completes when the connection <see cref="ConnectAsync"/> made closes, at once when it made none: a spare, which
    /// sends no events, learns this way that containerd stopped.
    /// </summary>
    public Task Disconnected => _client?.Closed ?? Task.CompletedTask;

    /// <summary>Closes the connection.</summary>
    public ValueTask DisposeAsync() => DropClientAsync();

    private async ValueTask DropClientAsync()
    {
        if (_client is { } client)
        {
            _client = null;
            await client.DisposeAsync().ConfigureAwait(false);
        }
    }

    private static bool IsConnectionFailure(Exception ex) => ex is IOException or SocketException or ObjectDisposedException;
}
