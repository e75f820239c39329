using System.Net.Sockets;
using WasmKata.Linux;
using WasmKata.Linux.Processes;
using Xunit;

namespace WasmKata.Specs.Linux;

public sealed class UnixListenerSpec : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly string _path;

    public UnixListenerSpec() => _path = Path.Combine(_dir.Path, "run", "s", "shim.sock");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Bind_must_listen_on_a_0600_socket_in_a_0711_directory()
    {
        using var listener = UnixListener.Bind(_path);

        Assert.Equal(Interop.S_IFSOCK | 0x180, Interop.StatMode(_path) & 0xFFFF);
        Assert.Equal(0x1C9, Interop.StatMode(Path.GetDirectoryName(_path)!) & 0xFFF);
        Assert.Equal(_path, listener.LocalEndPoint?.ToString());

        using var client = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await client.ConnectAsync(new UnixDomainSocketEndPoint(_path)).Within();
        using var accepted = await listener.AcceptAsync().Within();
        Assert.True(accepted.Connected);
    }

    [Fact]
    public void Disposing_the_listener_must_leave_the_socket_file_for_the_daemon()
    {
        UnixListener.Bind(_path).Dispose();
        Assert.Equal(Interop.S_IFSOCK, Interop.FileType(_path));
    }

    [Fact]
    public void IsServing_must_be_true_only_while_someone_listens()
    {
        Assert.False(UnixListener.IsServing(_path));
        var listener = UnixListener.Bind(_path);
        Assert.True(UnixListener.IsServing(_path));
        listener.Dispose();
        Assert.False(UnixListener.IsServing(_path));
    }

    [Fact]
    public void Bind_over_a_live_socket_must_throw_AddressAlreadyInUse_even_when_replacing_stale()
    {
        using var live = UnixListener.Bind(_path);

        var plain = Assert.Throws<SocketException>(() => UnixListener.Bind(_path));
        var replacing = Assert.Throws<SocketException>(() => UnixListener.Bind(_path, replaceStale: true));

        Assert.Equal(SocketError.AddressAlreadyInUse, plain.SocketErrorCode);
        Assert.Equal(SocketError.AddressAlreadyInUse, replacing.SocketErrorCode);
        Assert.Contains(_path, replacing.Message, StringComparison.Ordinal);
        Assert.True(UnixListener.IsServing(_path));
    }

    [Fact]
    public void A_stale_socket_file_must_be_replaced_only_when_asked()
    {
        UnixListener.Bind(_path).Dispose();

        var e = Assert.Throws<SocketException>(() => UnixListener.Bind(_path));
        Assert.Equal(SocketError.AddressAlreadyInUse, e.SocketErrorCode);

        using var fresh = UnixListener.Bind(_path, replaceStale: true);
        Assert.True(UnixListener.IsServing(_path));
    }

    [Fact]
    public void A_regular_file_in_the_way_must_never_be_deleted()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(_path)!);
        File.WriteAllText(_path, "not a socket");

        var e = Assert.Throws<SocketException>(() => UnixListener.Bind(_path, replaceStale: true));
        Assert.Equal(SocketError.AddressAlreadyInUse, e.SocketErrorCode);
        Assert.Equal("not a socket", File.ReadAllText(_path));
    }

    [Fact]
    public void A_path_longer_than_sun_path_must_be_refused()
    {
        var tooLong = Path.Combine(_dir.Path, new string('x', 100), "shim.sock");
        Assert.Throws<ArgumentException>(() => UnixListener.Bind(tooLong));
        Assert.Throws<ArgumentException>(() => UnixListener.Bind("relative.sock"));
    }

    [Fact]
    public async Task AdoptInherited_must_take_over_a_listening_fd_and_make_it_close_on_exec()
    {
        using var original = UnixListener.Bind(_path);
        var inherited = Interop.Fcntl(original.SafeHandle, Interop.F_DUPFD, 10);
        Assert.True(inherited >= 10);
        Assert.Equal(0, Interop.Fcntl(inherited, Interop.F_GETFD, 0) & Interop.FD_CLOEXEC);

        using (var adopted = UnixListener.AdoptInherited(inherited))
        {
            Assert.Equal(Interop.FD_CLOEXEC, Interop.Fcntl(inherited, Interop.F_GETFD, 0) & Interop.FD_CLOEXEC);
            Assert.Equal(_path, adopted.LocalEndPoint?.ToString());

            using var client = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            await client.ConnectAsync(new UnixDomainSocketEndPoint(_path)).Within();
            using var accepted = await adopted.AcceptAsync().Within();
            await accepted.SendAsync("ok"u8.ToArray()).Within();
            var buffer = new byte[2];
            Assert.Equal(2, await client.ReceiveAsync(buffer).Within());
        }

        Assert.Equal(Interop.S_IFSOCK, Interop.FileType(_path));
    }

    [Fact]
    public void AdoptInherited_must_refuse_a_socket_that_does_not_listen_and_a_missing_fd()
    {
        using var notListening = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        var dup = Interop.Fcntl(notListening.SafeHandle, Interop.F_DUPFD, 10);
        Assert.Throws<InvalidOperationException>(() => UnixListener.AdoptInherited(dup));

        // Not dup again: the refused fd was closed, and a spec running alongside may already hold its number.
        var e = Assert.Throws<UnixException>(() => UnixListener.AdoptInherited(1 << 30));
        Assert.Equal("EBADF", e.ErrnoName);
    }
}
