using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using WasmKata.Core.Protos.TaskApi;
using WasmKata.Core.Protos.Ttrpc;
using WasmKata.Shim.Ttrpc;
using Xunit;

namespace WasmKata.Specs.Shim;

/// <summary>The frame codec against bytes captured from containerd 1.6.20 (shim-protocol.md §2.6).</summary>
public sealed class FrameHeaderSpec
{
    private static byte[] Hex(string hex) => Convert.FromHexString(hex.Replace(" ", "", StringComparison.Ordinal));

    private static byte[] Ascii(string text) => System.Text.Encoding.ASCII.GetBytes(text);

    [Theory]
    [InlineData(0u, 1u, (byte)1, (byte)0)]
    [InlineData(40u, 3u, (byte)2, (byte)0)]
    [InlineData(4u << 20, 0xFFFF_FFFFu, (byte)3, (byte)5)]
    [InlineData(0xFFFF_FFFFu, 2u, (byte)9, (byte)0xFF)]
    public void Header_must_round_trip(uint length, uint streamId, byte type, byte flags)
    {
        var header = new FrameHeader(length, streamId, (FrameType)type, flags);
        var bytes = new byte[FrameHeader.Size];
        header.Write(bytes);
        Assert.Equal(header, FrameHeader.Read(bytes));
    }

    [Fact]
    public void Header_must_be_big_endian_length_stream_type_flags()
    {
        var bytes = new byte[FrameHeader.Size];
        new FrameHeader(0x0102_0304, 0x0A0B_0C0D, FrameType.Response, 0x7F).Write(bytes);
        Assert.Equal(Hex("01020304 0A0B0C0D 02 7F"), bytes);
    }

    [Fact]
    public void Connect_request_frame_must_equal_the_captured_bytes()
    {
        var request = new Request
        {
            Service = "containerd.task.v2.Task",
            Method = "Connect",
            Payload = new ConnectRequest { Id = "t1" }.ToByteString(),
        };
        using var frame = FrameEncoder.Message(3, FrameType.Request, request);

        byte[] expected =
        [
            .. Hex("00000028 00000003 01 00"),
            .. Hex("0a17"), .. Ascii("containerd.task.v2.Task"),
            .. Hex("1207"), .. Ascii("Connect"),
            .. Hex("1a04 0a02 7431"),
        ];
        Assert.Equal(expected, frame.Bytes.ToArray());
    }

    [Fact]
    public void Connect_response_frame_must_equal_the_captured_bytes()
    {
        using var frame = FrameEncoder.Success(3, new ConnectResponse { ShimPid = 15706, TaskPid = 15729 });
        Assert.Equal(Hex("00000008 00000003 02 00 1206 08da7a 10f17a"), frame.Bytes.ToArray());
    }

    [Fact]
    public void Wait_response_body_must_equal_the_captured_bytes()
    {
        var reply = new WaitResponse { ExitStatus = 3, ExitedAt = new Timestamp { Seconds = 1795614313, Nanos = 819857212 } };
        using var frame = FrameEncoder.Success(9, reply);
        Assert.Equal(Hex("1210 0803 120c 08e9cc9bd806 10bc8ef88603"), frame.Bytes[FrameHeader.Size..].ToArray());
    }

    [Fact]
    public void Empty_reply_must_be_a_bare_response_header()
    {
        using var frame = FrameEncoder.Success(17, new Empty());
        Assert.Equal(Hex("00000000 00000011 02 00"), frame.Bytes.ToArray());

        using var nullReply = FrameEncoder.Success(17, null);
        Assert.Equal(Hex("00000000 00000011 02 00"), nullReply.Bytes.ToArray());
    }

    [Fact]
    public void Error_frame_must_equal_the_captured_bytes()
    {
        using var frame = FrameEncoder.Error(5, StatusCode.InvalidArgument, "timestamp must be set on forwarded event: invalid argument");
        byte[] expected =
        [
            .. Hex("00000040 00000005 02 00 0a3e 0803 123a"),
            .. Ascii("timestamp must be set on forwarded event: invalid argument"),
        ];
        Assert.Equal(expected, frame.Bytes.ToArray());
    }

    [Fact]
    public void Reply_larger_than_four_MiB_must_become_ResourceExhausted()
    {
        var huge = new BytesValue { Value = ByteString.CopyFrom(new byte[FrameHeader.MaxMessageSize]) };
        using var frame = FrameEncoder.Success(1, huge);
        var response = Response.Parser.ParseFrom(frame.Bytes[FrameHeader.Size..].Span);
        Assert.Equal((int)StatusCode.ResourceExhausted, response.Status.Code);
        Assert.StartsWith("message length 41943", response.Status.Message, StringComparison.Ordinal);
        Assert.EndsWith("exceed maximum message size of 4194304", response.Status.Message, StringComparison.Ordinal);
    }
}
