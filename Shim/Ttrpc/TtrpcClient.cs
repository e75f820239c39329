using System.Buffers;
using System.Collections.Concurrent;
using System.Net.Sockets;
using Google.Protobuf;
using WasmKata.Core.Protos.Ttrpc;

namespace WasmKata.Shim.Ttrpc;

/// <summary>
/// A ttrpc client over one unix socket connection: concurrent unary calls matched to replies by stream id.
/// Once the connection closes every pending and later call fails with <see cref="IOException"/>; make a new client.
/// </summary>
internal sealed class TtrpcClient : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly FrameWriter _writer;
    private readonly ConcurrentDictionary<uint, TaskCompletionSource<Response>> _pending = new();
    private readonly CancellationTokenSource _closing = new();
    private readonly Task _readLoop;
    private volatile Exception? _closedBecause;
    private int _lastStreamId = -1;

    private TtrpcClient(Socket socket)
    {
        _socket = socket;
        _writer = new FrameWriter(socket);
        _readLoop = Task.Run(ReadLoopAsync, CancellationToken.None);
    }

    /// <summary>True once the connection has closed; calls then fail at once.</summary>
    public bool IsClosed => _closedBecause is not null;

    /// <summary>Completes once the connection has closed (the server went away, or this client was disposed).</summary>
    public Task Closed => _readLoop;

    /// <summary>Connects to the unix socket at <paramref name="socketPath"/> (a leading unix:// is accepted).</summary>
    public static async Task<TtrpcClient> ConnectAsync(string socketPath, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(socketPath);
        var path = socketPath.StartsWith("unix://", StringComparison.Ordinal) ? socketPath["unix://".Length..] : socketPath;
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        return new TtrpcClient(socket);
    }

    /// <summary>
    /// Calls <paramref name="service"/>/<paramref name="method"/>. A non-OK reply throws <see cref="TtrpcException"/>;
    /// passing <paramref name="timeout"/> sends it as the server-side deadline and throws DeadlineExceeded when it passes.
    /// </summary>
    public async Task<TResponse> CallAsync<TRequest, TResponse>(
        string service,
        string method,
        TRequest request,
        TimeSpan? timeout = null,
        IEnumerable<KeyValuePair<string, string>>? metadata = null,
        CancellationToken cancellationToken = default)
        where TRequest : IMessage
        where TResponse : IMessage<TResponse>, new()
    {
        ArgumentNullException.ThrowIfNull(request);
        var envelope = new Request
        {
            Service = service,
            Method = method,
            Payload = UnsafeByteOperations.UnsafeWrap(request.ToByteArray()),
        };
        if (timeout is { } limit)
            envelope.TimeoutNano = (long)(limit.TotalNanoseconds);

        if (metadata is not null)
        {
            foreach (var (key, value) in metadata)
                envelope.Metadata.Add(new KeyValue { Key = key, Value = value });
        }

        var reply = await RoundTripAsync(envelope, timeout, cancellationToken).ConfigureAwait(false);
        if (reply.Status is { Code: not 0 } status)
            throw new TtrpcException((StatusCode)status.Code, status.Message);

        var response = new TResponse();
        response.MergeFrom(reply.Payload);
        return response;
    }

    /// <summary>Closes the connection; pending calls fail with <see cref="IOException"/>.</summary>
    public async ValueTask DisposeAsync()
    {
        Close(new IOException("ttrpc: client disposed"));
        await _readLoop.ConfigureAwait(false);
        _closing.Dispose();
    }

    private async Task<Response> RoundTripAsync(Request envelope, TimeSpan? timeout, CancellationToken cancellationToken)
    {
        ThrowIfClosed();
        var streamId = (uint)Interlocked.Add(ref _lastStreamId, 2);
        var reply = new TaskCompletionSource<Response>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[streamId] = reply;
        using var deadline = timeout is { } limit ? new CancellationTokenSource(limit) : null;
        try
        {
            // The close sweep may have run between the check above and the registration.
            ThrowIfClosed();
            try
            {
                // The connection's own token, not the caller's: a write cut short would corrupt the stream.
                await _writer.WriteAsync(FrameEncoder.Message(streamId, FrameType.Request, envelope), _closing.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException or OperationCanceledException)
            {
                var failure = new IOException("ttrpc: connection closed while sending: " + ex.Message, ex);
                Close(failure);
                throw failure;
            }

            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline?.Token ?? CancellationToken.None);
            try
            {
                return await reply.Task.WaitAsync(linked.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (deadline is { IsCancellationRequested: true } && !cancellationToken.IsCancellationRequested)
            {
                throw new TtrpcException(StatusCode.DeadlineExceeded, "context deadline exceeded");
            }
        }
        finally
        {
            _pending.TryRemove(streamId, out _);
        }
    }

    private async Task ReadLoopAsync()
    {
        var header = new byte[FrameHeader.Size];
        var token = _closing.Token;
        try
        {
            while (await SocketIo.ReceiveExactlyAsync(_socket, header, token).ConfigureAwait(false))
            {
                var frame = FrameHeader.Read(header);
                if (frame.IsOversize)
                    throw new IOException("ttrpc: " + FrameHeader.OversizeMessage(frame.Length));

                if (frame.Type != FrameType.Response)
                {
                    await SocketIo.DiscardAsync(_socket, frame.Length, token).ConfigureAwait(false);
                    continue;
                }

                var response = await ReadResponseAsync((int)frame.Length, token).ConfigureAwait(false);
                if (_pending.TryGetValue(frame.StreamId, out var waiter))
                    waiter.TrySetResult(response);
            }

            Close(new IOException("ttrpc: connection closed by the server"));
        }
        catch (Exception ex)
        {
            Close(ex as IOException ?? new IOException("ttrpc: connection failed: " + ex.Message, ex));
        }
    }

    private async Task<Response> ReadResponseAsync(int length, CancellationToken token)
    {
        var body = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            if (length > 0)
                await SocketIo.ReceiveExactlyAsync(_socket, body.AsMemory(0, length), token).ConfigureAwait(false);

            return Response.Parser.ParseFrom(body.AsSpan(0, length));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(body);
        }
    }

    private void Close(IOException reason)
    {
        if (Interlocked.CompareExchange(ref _closedBecause, reason, null) is not null)
            return;

        _closing.Cancel();
        _socket.Dispose();
        foreach (var waiter in _pending.Values)
            waiter.TrySetException(reason);
    }

    private void ThrowIfClosed()
    {
        if (_closedBecause is { } reason)
            throw new IOException(reason.Message, reason);
    }
}
