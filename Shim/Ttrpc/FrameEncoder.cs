using System.Buffers;
using Google.Protobuf;
using WasmKata.Core.Protos.Rpc;
using WasmKata.Core.Protos.Ttrpc;

namespace WasmKata.Shim.Ttrpc;

/// <summary>Builds whole frames straight into pooled buffers, without intermediate byte strings.</summary>
internal static class FrameEncoder
{
    // Tag of Response.payload: field 2, length-delimited.
    private const byte ResponsePayloadTag = (2 << 3) | 2;

    // Longer status texts are cut so that an error reply can always be sent.
    private const int MaxStatusMessage = 64 * 1024;

    /// <summary>
    /// A successful Response: no status (as ttrpc's Go server sends it), and the payload field only when the
    /// message is non-empty, so an Empty reply is a bare header. A reply too large to send becomes ResourceExhausted.
    /// </summary>
    public static RentedFrame Success(uint streamId, IMessage? payload)
    {
        var payloadSize = payload?.CalculateSize() ?? 0;
        var fullSize = payloadSize == 0 ? 0 : 1L + CodedOutputStream.ComputeLengthSize(payloadSize) + payloadSize;
        if (fullSize > FrameHeader.MaxMessageSize)
            return Error(streamId, StatusCode.ResourceExhausted, FrameHeader.OversizeMessage(fullSize));

        var bodySize = (int)fullSize;
        var buffer = ArrayPool<byte>.Shared.Rent(FrameHeader.Size + bodySize);
        new FrameHeader((uint)bodySize, streamId, FrameType.Response, 0).Write(buffer);
        if (payloadSize > 0)
        {
            var span = buffer.AsSpan(FrameHeader.Size, bodySize);
            span[0] = ResponsePayloadTag;
            var prefix = 1 + WriteVarint(span[1..], (uint)payloadSize);
            payload!.WriteTo(span.Slice(prefix, payloadSize));
        }

        return new RentedFrame(buffer, FrameHeader.Size + bodySize);
    }

    /// <summary>An error Response: status only, no payload (the client decodes the payload before it looks at the status).</summary>
    public static RentedFrame Error(uint streamId, StatusCode code, string message)
    {
        if (message.Length > MaxStatusMessage)
            message = message[..MaxStatusMessage];

        return Message(streamId, FrameType.Response, new Response { Status = new Status { Code = (int)code, Message = message } });
    }

    /// <summary>Any message as the body of a frame.</summary>
    public static RentedFrame Message(uint streamId, FrameType type, IMessage body)
    {
        var bodySize = body.CalculateSize();
        if (bodySize > FrameHeader.MaxMessageSize)
            throw new TtrpcException(StatusCode.ResourceExhausted, FrameHeader.OversizeMessage(bodySize));

        var buffer = ArrayPool<byte>.Shared.Rent(FrameHeader.Size + bodySize);
        new FrameHeader((uint)bodySize, streamId, type, 0).Write(buffer);
        body.WriteTo(buffer.AsSpan(FrameHeader.Size, bodySize));
        return new RentedFrame(buffer, FrameHeader.Size + bodySize);
    }

    private static int WriteVarint(Span<byte> destination, uint value)
    {
        var i = 0;
        while (value >= 0x80)
        {
            destination[i++] = (byte)(value | 0x80);
            value >>= 7;
        }

        destination[i++] = (byte)value;
        return i;
    }
}
