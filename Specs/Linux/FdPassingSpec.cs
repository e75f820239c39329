using System.Buffers.Binary;
using System.Net.Sockets;
using WasmKata.Linux.Processes;
using Xunit;

namespace WasmKata.Specs.Linux;

/// <summary>A length-prefixed frame with one fd over a Unix socket pair: what arrives, and each way a frame is bad.</summary>
public sealed class FdPassingSpec : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(5);
    private readonly Socket _sender;
    private readonly Socket _receiver;

    public FdPassingSpec() => (_sender, _receiver) = Pair();

    public void Dispose()
    {
        _sender.Dispose();
        _receiver.Dispose();
    }

    [Fact]
    public void A_frame_must_arrive_whole_with_the_listening_socket_it_carries()
    {
        using var dir = new TempDirectory();
        using var listener = UnixListener.Bind(dir.Sub("l.sock"));
        FdPassing.Send(_sender, "hello"u8, listener.SafeHandle);

        var (payload, fd) = FdPassing.Receive(_receiver, 1024, Patience);

        Assert.Equal("hello"u8.ToArray(), payload);
        Assert.NotNull(fd);
        using var adopted = UnixListener.Adopt(fd, "the passed fd");
        // The same socket: a client of the path is accepted on the copy.
        using var client = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        client.Connect(new UnixDomainSocketEndPoint(dir.Sub("l.sock")));
        using var accepted = adopted.Accept();
        Assert.True(accepted.Connected);
    }

    [Fact]
    public void A_frame_without_an_fd_must_arrive_with_none()
    {
        FdPassing.Send(_sender, "x"u8, null);
        var (payload, fd) = FdPassing.Receive(_receiver, 1024, Patience);
        Assert.Equal("x"u8.ToArray(), payload);
        Assert.Null(fd);
    }

    [Fact]
    public void A_frame_longer_than_allowed_must_be_refused_before_its_payload_is_read()
    {
        FdPassing.Send(_sender, new byte[2048], null);
        var e = Assert.Throws<InvalidDataException>(() => FdPassing.Receive(_receiver, 1024, Patience));
        Assert.Contains("2048 bytes is longer than the 1024 allowed", e.Message);
    }

    [Fact]
    public void A_frame_cut_short_by_the_peer_must_say_how_much_arrived()
    {
        Span<byte> header = stackalloc byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(header, 100);
        _sender.Send(header);
        _sender.Send("only this"u8);
        _sender.Shutdown(SocketShutdown.Send);
        var e = Assert.Throws<InvalidDataException>(() => FdPassing.Receive(_receiver, 1024, Patience));
        Assert.Contains("after 9 of 100 payload bytes", e.Message);
    }

    [Fact]
    public void A_peer_that_sends_nothing_must_time_out()
    {
        var e = Assert.Throws<TimeoutException>(() => FdPassing.Receive(_receiver, 1024, TimeSpan.FromMilliseconds(200)));
        Assert.Contains("0 of 4 length bytes", e.Message);
    }

    private static (Socket, Socket) Pair()
    {
        using var dir = new TempDirectory();
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(dir.Sub("p.sock")));
        listener.Listen(1);
        var client = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        client.Connect(new UnixDomainSocketEndPoint(dir.Sub("p.sock")));
        return (client, listener.Accept());
    }
}
