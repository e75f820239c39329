using System.Collections.Concurrent;
using System.Net.Sockets;
using Google.Protobuf;
using Serilog;
using WasmKata.Linux.Processes;

namespace WasmKata.Shim.Ttrpc;

/// <summary>
/// A ttrpc server on an already bound and listening unix socket: any number of connections, each served by
/// one async read loop with every request handled concurrently. It owns the listener from construction on.
/// </summary>
internal sealed class TtrpcServer : IAsyncDisposable
{
    private static readonly TimeSpan AcceptRetryDelay = TimeSpan.FromMilliseconds(100);

    private readonly Socket _listener;
    private readonly ILogger _log;
    private readonly TtrpcHandlerRegistry _handlers = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly CancellationTokenSource _stopAccepting = new();
    private readonly ConcurrentDictionary<TtrpcConnection, Task> _connections = new();
    private Task? _acceptLoop;
    private int _disposed;
    private int _inFlight;

    public TtrpcServer(Socket listener, ILogger? log = null)
    {
        ArgumentNullException.ThrowIfNull(listener);
        _listener = listener;
        _log = log ?? Serilog.Core.Logger.None;
    }

    /// <summary>Adds (or replaces) a raw handler; a null or empty result is sent as a zero-length payload.</summary>
    public void Register(string serviceName, string method, Func<ReadOnlyMemory<byte>, TtrpcCallContext, Task<IMessage?>> handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        _handlers.Add(serviceName, method, new TtrpcHandler(handler));
    }

    /// <summary>Adds (or replaces) a handler whose payload is decoded as <typeparamref name="TRequest"/>.</summary>
    public void Register<TRequest, TResponse>(string serviceName, string method, Func<TRequest, TtrpcCallContext, Task<TResponse>> handler)
        where TRequest : IMessage<TRequest>, new()
        where TResponse : IMessage =>
        _handlers.Add(serviceName, method, TtrpcHandlers.Typed(handler));

    /// <summary>Runs when a connection is accepted (after the peer check).</summary>
    public Action? ConnectionOpened { get; set; }

    /// <summary>Runs when a served connection has ended.</summary>
    public Action? ConnectionClosed { get; set; }

    /// <summary>
    /// Stops accepting and closes the listening socket; connections already accepted are served on. A daemon that
    /// decided to exit calls this (after unlinking its path) so that no new client reaches it.
    /// </summary>
    public void StopAccepting()
    {
        try
        {
            _stopAccepting.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Disposed already: the listener is closed.
        }

        _listener.Dispose();
    }

    /// <summary>Connections being served now.</summary>
    public int ConnectionCount => _connections.Count;

    /// <summary>Requests whose handler has not yet finished (or whose reply is still being written).</summary>
    public int RequestsInFlight => Volatile.Read(ref _inFlight);

    /// <summary>Registers methods once under several service names, e.g. containerd.task.v2.Task and containerd.task.v3.Task.</summary>
    public TtrpcServiceBuilder Service(params string[] serviceNames) => new(_handlers, serviceNames);

    /// <summary>
    /// Accepts connections until <paramref name="cancellationToken"/> fires or the server is disposed;
    /// completes normally then. Call once.
    /// </summary>
    public Task RunAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (Interlocked.CompareExchange(ref _acceptLoop, Task.CompletedTask, null) is not null)
            throw new InvalidOperationException("the server is already running");

        // Task.Run keeps the loops off any caller's synchronization context.
        var loop = Task.Run(() => AcceptLoopAsync(cancellationToken), CancellationToken.None);
        _acceptLoop = loop;
        return loop;
    }

    /// <summary>Stops accepting, closes the listener and every connection, and waits for their loops to end.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;

        await _stopping.CancelAsync().ConfigureAwait(false);
        _listener.Dispose();
        if (_acceptLoop is { } loop)
            await loop.ConfigureAwait(false);

        await Task.WhenAll(_connections.Values).ConfigureAwait(false);
        _stopping.Dispose();
        _stopAccepting.Dispose();
    }

    private async Task AcceptLoopAsync(CancellationToken cancellationToken)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopping.Token);
        var token = linked.Token;
        using var accepting = CancellationTokenSource.CreateLinkedTokenSource(token, _stopAccepting.Token);
        var acceptToken = accepting.Token;
        while (!acceptToken.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(acceptToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (acceptToken.IsCancellationRequested || ex is ObjectDisposedException)
            {
                break;
            }
            catch (SocketException ex)
            {
                // Out of fds or an aborted handshake: keep serving the clients we have and try again shortly.
                _log.Warning("ttrpc accept failed: {Reason}", ex.Message);
                await Task.Delay(AcceptRetryDelay, acceptToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                continue;
            }

            if (!PeerCredentials.IsSameUser(client, out var peer))
            {
                // The socket is 0600 already; this also refuses a descriptor passed on to another user's process.
                _log.Warning("ttrpc: refused a connection from uid {Uid} (pid {Pid}): not the shim's user", peer.Uid, peer.Pid);
                client.Dispose();
                continue;
            }

            var connection = new TtrpcConnection(client, _handlers, _log, delta => Interlocked.Add(ref _inFlight, delta));
            ConnectionOpened?.Invoke();
            var task = Task.Run(() => connection.RunAsync(token), CancellationToken.None);
            _connections[connection] = task;
            _ = task.ContinueWith(
                static (_, state) =>
                {
                    var (server, finished) = ((TtrpcServer, TtrpcConnection))state!;
                    server._connections.TryRemove(finished, out Task? _);
                    server.ConnectionClosed?.Invoke();
                },
                (this, connection),
                CancellationToken.None,
                TaskContinuationOptions.ExecuteSynchronously,
                TaskScheduler.Default);
        }

        // Connections watch the same token, so they wind down with the accept loop.
        await Task.WhenAll(_connections.Values).ConfigureAwait(false);
    }
}
