using System.Buffers;
using System.Net.Sockets;
using Google.Protobuf;
using Serilog;
using WasmKata.Core.Protos.Ttrpc;

namespace WasmKata.Shim.Ttrpc;

/// <summary>
/// One accepted client: a single async read loop that hands every request to the thread pool, so a
/// blocking call (Wait) never holds up the others; replies go out in completion order.
/// </summary>
internal sealed class TtrpcConnection
{
    /// <summary>Requests served at once per connection before reads pause.</summary>
    public const int MaxOutstanding = 128;

    /// <summary>Requests with payloads above <see cref="LargePayload"/> bytes served at once; bounds memory to a few MiB.</summary>
    public const int MaxOutstandingLarge = 4;

    /// <summary>Payload size from which a request counts as large.</summary>
    public const int LargePayload = 64 * 1024;

    private readonly Socket _socket;
    private readonly TtrpcHandlerRegistry _handlers;
    private readonly ILogger _log;
    private readonly FrameWriter _writer;
    private readonly Action<int> _inFlight;
    private readonly SemaphoreSlim _slots = new(MaxOutstanding, MaxOutstanding);
    private readonly SemaphoreSlim _largeSlots = new(MaxOutstandingLarge, MaxOutstandingLarge);

    // Not disposed on purpose: in-flight handlers may still link to its token after the loop ends,
    // and it owns no timer or wait handle.
    private readonly CancellationTokenSource _closed = new();

    public TtrpcConnection(Socket socket, TtrpcHandlerRegistry handlers, ILogger log, Action<int>? inFlight = null)
    {
        _inFlight = inFlight ?? (static _ => { });
        _socket = socket;
        _handlers = handlers;
        _log = log;
        _writer = new FrameWriter(socket);
    }

    /// <summary>Serves until the peer closes, the stream breaks, or <paramref name="serverStopping"/> fires; then closes the socket.</summary>
    public async Task RunAsync(CancellationToken serverStopping)
    {
        using var stop = serverStopping.UnsafeRegister(static state => ((CancellationTokenSource)state!).Cancel(), _closed);
        var token = _closed.Token;
        var header = new byte[FrameHeader.Size];
        try
        {
            while (await SocketIo.ReceiveExactlyAsync(_socket, header, token).ConfigureAwait(false))
                await HandleFrameAsync(FrameHeader.Read(header), token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or EndOfStreamException or SocketException or ObjectDisposedException)
        {
            // A peer that goes away mid-frame or a server shutdown ends this connection only.
            _log.Debug("ttrpc connection closed: {Reason}", ex.Message);
        }
        catch (Exception ex)
        {
            _log.Warning(ex, "ttrpc connection dropped after an unexpected failure");
        }
        finally
        {
            _closed.Cancel();
            _socket.Dispose();
        }
    }

    private async Task HandleFrameAsync(FrameHeader header, CancellationToken token)
    {
        if (header.IsOversize)
        {
            // Answer first: the announced bytes may never all arrive, and the peer deserves its status now.
            await _writer.WriteAsync(
                FrameEncoder.Error(header.StreamId, StatusCode.ResourceExhausted, FrameHeader.OversizeMessage(header.Length)),
                token).ConfigureAwait(false);
            await SocketIo.DiscardAsync(_socket, header.Length, token).ConfigureAwait(false);
            return;
        }

        if (header.StreamId % 2 != 1)
        {
            await SocketIo.DiscardAsync(_socket, header.Length, token).ConfigureAwait(false);
            await _writer.WriteAsync(
                FrameEncoder.Error(header.StreamId, StatusCode.InvalidArgument, "StreamID must be odd for client initiated streams"),
                token).ConfigureAwait(false);
            return;
        }

        if (header.Type != FrameType.Request)
        {
            // Data and unknown frame types are ignored, as ttrpc 1.1 (containerd 1.6) does.
            await SocketIo.DiscardAsync(_socket, header.Length, token).ConfigureAwait(false);
            return;
        }

        var request = await ReadRequestAsync(header, token).ConfigureAwait(false);
        if (request is null)
            return;

        var large = request.Payload.Length >= LargePayload;
        await _slots.WaitAsync(token).ConfigureAwait(false);
        if (large)
        {
            try
            {
                await _largeSlots.WaitAsync(token).ConfigureAwait(false);
            }
            catch
            {
                _slots.Release();
                throw;
            }
        }

        _inFlight(1);
        _ = Task.Run(() => DispatchAsync(header.StreamId, request, large), CancellationToken.None);
    }

    private async Task<Request?> ReadRequestAsync(FrameHeader header, CancellationToken token)
    {
        var length = (int)header.Length;
        // Only bodies of the size real requests have come from the shared pool: it keeps what it is given back for
        // good, so MiB-sized bodies (a broken or hostile client) would stay allocated after the client is gone.
        var pooled = length < LargePayload;
        var body = pooled ? ArrayPool<byte>.Shared.Rent(length) : await ReceiveLargeAsync(length, token).ConfigureAwait(false);
        try
        {
            // A peer gone before the first byte of the body must not leave a pooled array's old bytes to be parsed
            // as a request (they may be another client's).
            if (pooled && length > 0 && !await SocketIo.ReceiveExactlyAsync(_socket, body.AsMemory(0, length), token).ConfigureAwait(false))
                throw new EndOfStreamException("connection closed before the request body");

            // Parsing copies the payload out, so the pooled body can go back at once.
            return Request.Parser.ParseFrom(body.AsSpan(0, length));
        }
        catch (InvalidProtocolBufferException ex)
        {
            await _writer.WriteAsync(
                FrameEncoder.Error(header.StreamId, StatusCode.InvalidArgument, "unmarshal request error: " + ex.Message),
                token).ConfigureAwait(false);
            return null;
        }
        finally
        {
            if (pooled)
                ArrayPool<byte>.Shared.Return(body);
        }
    }

    /// <summary>
    /// Receives a large body into a buffer that grows with what has arrived, so a client that announces 4 MiB and
    /// then stalls holds 64 KiB of the shim's memory, not 4 MiB.
    /// </summary>
    private async Task<byte[]> ReceiveLargeAsync(int length, CancellationToken token)
    {
        var buffer = new byte[LargePayload];
        var filled = 0;
        while (filled < length)
        {
            if (filled == buffer.Length)
                Array.Resize(ref buffer, (int)Math.Min(length, 2L * buffer.Length));

            if (!await SocketIo.ReceiveExactlyAsync(_socket, buffer.AsMemory(filled, buffer.Length - filled), token).ConfigureAwait(false))
                throw new EndOfStreamException($"connection closed after {filled} of {length} bytes");

            filled = buffer.Length;
        }

        return buffer;
    }

    private async Task DispatchAsync(uint streamId, Request request, bool large)
    {
        var connection = _closed.Token;
        using var deadline = CreateDeadline(request.TimeoutNano, connection);
        try
        {
            RentedFrame reply;
            try
            {
                var context = new TtrpcCallContext(
                    request.Service, request.Method, streamId, ToMetadata(request), deadline?.Token ?? connection);
                var handler = _handlers.Resolve(request.Service, request.Method);
                var result = await handler(request.Payload.Memory, context).ConfigureAwait(false);
                reply = FrameEncoder.Success(streamId, result);
            }
            catch (Exception ex)
            {
                if (connection.IsCancellationRequested)
                    return;

                reply = EncodeFailure(streamId, request, ex, deadline);
            }

            await _writer.WriteAsync(reply, connection).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            // Typically the connection went away while the handler ran; nobody is left to answer.
            _log.Debug("ttrpc reply to {Service}/{Method} not sent: {Reason}", request.Service, request.Method, ex.Message);
        }
        finally
        {
            if (large)
                _largeSlots.Release();

            _slots.Release();
            _inFlight(-1);
        }
    }

    private RentedFrame EncodeFailure(uint streamId, Request request, Exception ex, CancellationTokenSource? deadline)
    {
        switch (ex)
        {
            case TtrpcException status:
                return FrameEncoder.Error(streamId, status.Code, status.Message);
            case OperationCanceledException when deadline is { IsCancellationRequested: true }:
                return FrameEncoder.Error(streamId, StatusCode.DeadlineExceeded, "context deadline exceeded");
            default:
                _log.Error(ex, "ttrpc {Service}/{Method} failed", request.Service, request.Method);
                return FrameEncoder.Error(streamId, StatusCode.Unknown, ex.Message);
        }
    }

    private static CancellationTokenSource? CreateDeadline(long timeoutNano, CancellationToken connection)
    {
        // Timers cannot take more than ~49 days; a deadline that far away is no deadline.
        if (timeoutNano <= 0 || timeoutNano / 1_000_000 >= uint.MaxValue - 1)
            return null;

        var deadline = CancellationTokenSource.CreateLinkedTokenSource(connection);
        deadline.CancelAfter(TimeSpan.FromTicks(Math.Max(1, timeoutNano / 100)));
        return deadline;
    }

    private static IReadOnlyList<KeyValuePair<string, string>> ToMetadata(Request request)
    {
        if (request.Metadata.Count == 0)
            return [];

        var pairs = new KeyValuePair<string, string>[request.Metadata.Count];
        for (var i = 0; i < pairs.Length; i++)
            pairs[i] = new(request.Metadata[i].Key, request.Metadata[i].Value);

        return pairs;
    }
}
