using System.Net.Sockets;
using WasmKata.Core.Spare;
using WasmKata.Linux.Processes;
using WasmKata.Shim.Actions;
using WasmKata.Specs.Linux;
using Xunit;

namespace WasmKata.Specs.Core.Spare;

/// <summary>The message a start hands a spare: its round trip, and the clear refusal of every bad one.</summary>
public sealed class HandoverMessageSpec : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly HandoverMessage _expected;
    private readonly HandoverMessage _good;

    public HandoverMessageSpec()
    {
        _expected = new HandoverMessage("0123456789abcdef", "", "", "ns", "/run/c.sock", "/run/c.sock.ttrpc", "/bin/true", false, "/etc/k.toml");
        _good = _expected with { Id = "sandbox-1", Bundle = _dir.CreateSub("bundle") };
    }

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void A_message_must_survive_its_round_trip_and_pass_validation()
    {
        var parsed = HandoverMessage.Parse(_good.Encode());
        Assert.Equal(_good, parsed);
        parsed.Validate(_expected);
    }

    [Theory]
    [InlineData(new byte[0], "empty hand-over message")]
    [InlineData(new byte[] { 7, 1, 2 }, "version 7, expected 1")]
    [InlineData(new byte[] { 1, 3, 0, (byte)'a' }, "field 1 claims 3 bytes, 1 are left")]
    [InlineData(new byte[] { 1, 0, 0 }, "ends after 1 of 9 fields")]
    public void Junk_and_truncated_messages_must_be_refused_with_the_reason(byte[] payload, string reason)
    {
        var e = Assert.Throws<HandoverException>(() => HandoverMessage.Parse(payload));
        Assert.Contains(reason, e.Message);
    }

    [Fact]
    public void Trailing_bytes_and_bad_text_must_be_refused()
    {
        Assert.Contains("2 bytes after its last field", Assert.Throws<HandoverException>(() => HandoverMessage.Parse([.. _good.Encode(), 0, 0])).Message);
        var bad = _good.Encode();
        bad[3] = 0xFF; // the key's first character
        Assert.Contains("field 1 is not UTF-8", Assert.Throws<HandoverException>(() => HandoverMessage.Parse(bad)).Message);
    }

    [Fact]
    public void A_message_for_another_namespace_containerd_or_configuration_must_be_refused()
    {
        Assert.Contains("another namespace", Assert.Throws<HandoverException>(() => (_good with { Namespace = "other" }).Validate(_expected)).Message);
        Assert.Contains("another containerd address", Assert.Throws<HandoverException>(() => (_good with { Address = "/x" }).Validate(_expected)).Message);
        Assert.Contains("another events address", Assert.Throws<HandoverException>(() => (_good with { TtrpcAddress = "/x" }).Validate(_expected)).Message);
        Assert.Contains("another configuration path", Assert.Throws<HandoverException>(() => (_good with { ConfigPath = "" }).Validate(_expected)).Message);
        Assert.Contains("another key", Assert.Throws<HandoverException>(() => (_good with { Key = "fedcba9876543210" }).Validate(_expected)).Message);
        Assert.Contains("no sandbox id", Assert.Throws<HandoverException>(() => (_good with { Id = "" }).Validate(_expected)).Message);
        Assert.Contains("not an existing absolute directory", Assert.Throws<HandoverException>(() => (_good with { Bundle = "rel" }).Validate(_expected)).Message);
    }

    [Fact]
    public void A_spare_must_refuse_junk_truncated_oversized_and_fd_less_hand_overs_and_take_a_good_one()
    {
        using var listener = UnixListener.Bind(_dir.Sub("task.sock"));
        Assert.Contains("not UTF-8", Refusal(c => FdPassing.Send(c, [1, 1, 0, 0xFF], listener.SafeHandle)));
        Assert.Contains("frame ends early", Refusal(c =>
        {
            c.Send([200, 0, 0, 0, 1]);
            c.Shutdown(SocketShutdown.Send);
        }));
        Assert.Contains("longer than the 65536 allowed", Refusal(c => c.Send([0, 0, 2, 0])));
        Assert.Contains("carries no listening socket", Refusal(c => FdPassing.Send(c, _good.Encode(), null)));
        using (var notListening = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
            Assert.Contains("is not a listening Unix socket", Refusal(c => FdPassing.Send(c, _good.Encode(), notListening.SafeHandle)));

        var (sender, receiver) = Pair();
        using (sender)
        using (receiver)
        {
            FdPassing.Send(sender, _good.Encode(), listener.SafeHandle);
            var (message, adopted, refusal) = SpareAction.Receive(receiver, _expected);
            using (adopted)
            {
                Assert.Null(refusal);
                Assert.Equal(_good, message);
                Assert.NotNull(adopted);
            }
        }
    }

    private string Refusal(Action<Socket> send)
    {
        var (sender, receiver) = Pair();
        using (sender)
        using (receiver)
        {
            send(sender);
            var (message, listener, refusal) = SpareAction.Receive(receiver, _expected);
            Assert.Null(message);
            Assert.Null(listener);
            return Assert.IsType<string>(refusal);
        }
    }

    private (Socket Sender, Socket Receiver) Pair()
    {
        var path = _dir.Sub("p-" + Guid.NewGuid().ToString("N")[..8] + ".sock");
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(path));
        listener.Listen(1);
        var client = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        client.Connect(new UnixDomainSocketEndPoint(path));
        return (client, listener.Accept());
    }
}
