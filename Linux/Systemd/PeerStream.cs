using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;

namespace WasmKata.Linux.Systemd;

/// <summary>
/// The socket stream of a peer-to-peer connection to systemd, working around an sd-bus server bug (seen in systemd
/// 252): a message that arrives in the same read as the client's <c>BEGIN</c> stays in the server's buffer unparsed
/// until more bytes arrive, so the client's first call (Tmds's Hello) is never answered. Once <c>BEGIN</c> has been
/// written, and until the server's first bytes are read, this stream sends a <c>Peer.Ping</c> that asks for no reply
/// 20 ms after BEGIN and then every 100 ms; each one makes the server parse what it holds. A bus daemon answers the
/// Hello first, and a stray ping there does nothing. Nothing else is changed.
/// </summary>
internal sealed class PeerStream : Stream
{
    private static readonly byte[] s_begin = Encoding.ASCII.GetBytes("BEGIN\r\n");
    private static readonly TimeSpan s_firstKick = TimeSpan.FromMilliseconds(20);
    private static readonly TimeSpan s_kickEvery = TimeSpan.FromMilliseconds(100);
    private const int MaxKicks = 300;

    private readonly NetworkStream _inner;
    private readonly SemaphoreSlim _writing = new(1, 1);
    private readonly CancellationTokenSource _answered = new();
    private int _begun;

    private PeerStream(Socket socket) => _inner = new NetworkStream(socket, ownsSocket: true);

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    /// <summary>Connects to the unix socket of a <c>unix:path=</c> or <c>unix:abstract=</c> address; null for any other.</summary>
    public static async Task<PeerStream?> ConnectAsync(string address, CancellationToken cancellationToken)
    {
        UnixDomainSocketEndPoint? endPoint = null;
        foreach (var part in address.StartsWith("unix:", StringComparison.Ordinal) && !address.Contains(';', StringComparison.Ordinal) ? address[5..].Split(',') : [])
        {
            if (part.StartsWith("path=", StringComparison.Ordinal))
                endPoint = new UnixDomainSocketEndPoint(Uri.UnescapeDataString(part[5..]));
            else if (part.StartsWith("abstract=", StringComparison.Ordinal))
                endPoint = new UnixDomainSocketEndPoint("\0" + Uri.UnescapeDataString(part[9..]));
        }

        if (endPoint is null)
            return null;

        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(endPoint, cancellationToken).ConfigureAwait(false);
            return new PeerStream(socket);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var read = await _inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        if (read > 0 && Volatile.Read(ref _begun) != 0 && !_answered.IsCancellationRequested)
            await _answered.CancelAsync().ConfigureAwait(false);

        return read;
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        await _writing.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await _inner.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _writing.Release();
        }

        if (buffer.Span.SequenceEqual(s_begin) && Interlocked.Exchange(ref _begun, 1) == 0)
            _ = KickUntilAnsweredAsync();
    }

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _answered.Cancel();
            _inner.Dispose();
        }

        base.Dispose(disposing);
    }

    // A method call to org.freedesktop.DBus.Peer.Ping on "/", NO_REPLY_EXPECTED, with a serial far above the client's.
    internal static byte[] PingMessage(uint serial)
    {
        var fields = new List<byte>();
        AddField(fields, 1, 'o', "/");
        AddField(fields, 2, 's', "org.freedesktop.DBus.Peer");
        AddField(fields, 3, 's', "Ping");
        var headerLength = 16 + fields.Count;
        var message = new byte[(headerLength + 7) / 8 * 8];
        message[0] = (byte)'l';
        message[1] = 1; // method call
        message[2] = 1; // no reply expected
        message[3] = 1; // protocol version
        BinaryPrimitives.WriteUInt32LittleEndian(message.AsSpan(4), 0);
        BinaryPrimitives.WriteUInt32LittleEndian(message.AsSpan(8), serial);
        BinaryPrimitives.WriteUInt32LittleEndian(message.AsSpan(12), (uint)fields.Count);
        fields.CopyTo(message, 16);
        return message;

        static void AddField(List<byte> to, byte code, char type, string value)
        {
            while ((16 + to.Count) % 8 != 0)
                to.Add(0);

            to.AddRange([code, 1, (byte)type, 0]);
            var text = Encoding.ASCII.GetBytes(value);
            Span<byte> length = stackalloc byte[4];
            BinaryPrimitives.WriteUInt32LittleEndian(length, (uint)text.Length);
            to.AddRange(length.ToArray());
            to.AddRange(text);
            to.Add(0);
        }
    }

    private async Task KickUntilAnsweredAsync()
    {
        try
        {
            for (var kick = 0; kick < MaxKicks; kick++)
            {
                await Task.Delay(kick == 0 ? s_firstKick : s_kickEvery, _answered.Token).ConfigureAwait(false);
                await _writing.WaitAsync(_answered.Token).ConfigureAwait(false);
                try
                {
                    await _inner.WriteAsync(PingMessage(0x7FFF_0000u + (uint)kick), _answered.Token).ConfigureAwait(false);
                }
                finally
                {
                    _writing.Release();
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException)
        {
            // Answered, or the connection is gone.
        }
    }
}
