using System.Buffers.Binary;
using System.Net.Sockets;
using Google.Protobuf;
using WasmKata.Core.Protos.Ttrpc;
using Xunit;

namespace WasmKata.Specs.Shim;

/// <summary>Drives a ttrpc server with hand-made bytes, independent of the production framing code.</summary>
internal static class RawTtrpc
{
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    public static async Task<Socket> ConnectAsync(string socketPath)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath)).WaitAsync(Patience);
        return socket;
    }

    public static byte[] Header(uint length, uint streamId, byte type, byte flags = 0)
    {
        var header = new byte[10];
        BinaryPrimitives.WriteUInt32BigEndian(header, length);
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(4), streamId);
        header[8] = type;
        header[9] = flags;
        return header;
    }

    public static byte[] Frame(uint streamId, byte type, byte[] body) => [.. Header((uint)body.Length, streamId, type), .. body];

    public static byte[] RequestBody(string service, string method, IMessage? payload = null) =>
        new Request { Service = service, Method = method, Payload = payload?.ToByteString() ?? ByteString.Empty }.ToByteArray();

    public static byte[] RequestBody(string service, string method, byte[] payload) =>
        new Request { Service = service, Method = method, Payload = ByteString.CopyFrom(payload) }.ToByteArray();

    public static async Task SendAsync(Socket socket, byte[] bytes)
    {
        var sent = 0;
        while (sent < bytes.Length)
            sent += await socket.SendAsync(bytes.AsMemory(sent), SocketFlags.None).AsTask().WaitAsync(Patience);
    }

    public static Task SendRequestAsync(Socket socket, uint streamId, string service, string method, IMessage? payload = null) =>
        SendAsync(socket, Frame(streamId, 1, RequestBody(service, method, payload)));

    /// <summary>Reads one whole frame: header fields and body.</summary>
    public static async Task<RawFrame> ReadFrameAsync(Socket socket)
    {
        var header = await ReadExactlyAsync(socket, 10);
        var length = BinaryPrimitives.ReadUInt32BigEndian(header);
        var body = await ReadExactlyAsync(socket, (int)length);
        return new RawFrame(header, BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(4)), header[8], header[9], body);
    }

    public static async Task<Response> ReadResponseAsync(Socket socket, uint expectedStreamId)
    {
        var frame = await ReadFrameAsync(socket);
        Assert.Equal((byte)2, frame.Type);
        Assert.Equal(expectedStreamId, frame.StreamId);
        return Response.Parser.ParseFrom(frame.Body);
    }

    /// <summary>True when the peer closed the connection (EOF or reset) within <see cref="Patience"/>.</summary>
    public static async Task<bool> IsClosedByPeerAsync(Socket socket)
    {
        var buffer = new byte[64];
        try
        {
            using var timeout = new CancellationTokenSource(Patience);
            return await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token) == 0;
        }
        catch (SocketException)
        {
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private static async Task<byte[]> ReadExactlyAsync(Socket socket, int count)
    {
        var buffer = new byte[count];
        var filled = 0;
        using var timeout = new CancellationTokenSource(Patience);
        while (filled < count)
        {
            var read = await socket.ReceiveAsync(buffer.AsMemory(filled), SocketFlags.None, timeout.Token);
            if (read == 0)
                throw new EndOfStreamException($"peer closed after {filled} of {count} bytes");

            filled += read;
        }

        return buffer;
    }
}

/// <summary>One frame as read off the wire.</summary>
internal sealed record RawFrame(byte[] Header, uint StreamId, byte Type, byte Flags, byte[] Body);
