using System.Net;
using System.Net.Sockets;
using WasmKata.Linux.Confinement;
using Xunit;

namespace WasmKata.Specs.Linux.Confinement;

[Trait("Requires", "kernel")]
public sealed class LandlockSpec
{
    private const int EACCES = 13;

    [Fact]
    public void This_kernel_must_have_Landlock_with_signal_scoping()
    {
        // 6.18 here: ABI 7. The guest host refuses to start on a kernel without Landlock (ABI 0).
        Assert.True(Landlock.AbiVersion() >= 6, $"Landlock ABI {Landlock.AbiVersion()}");
    }

    [Fact]
    public void A_restricted_thread_must_reach_its_directory_and_nothing_else()
    {
        using var temp = new TempDirectory();
        var mine = temp.CreateSub("mine");
        var other = temp.CreateSub("other");
        File.WriteAllText(Path.Combine(mine, "in.txt"), "in");
        File.WriteAllText(Path.Combine(other, "out.txt"), "out");

        var seen = OwnThread.Run(() =>
        {
            NoNewPrivs.SetOnThisThread();
            Landlock.RestrictThisThread([GuestHostConfinement.Beneath(mine, LandlockFs.ReadWrite)]);
            return new
            {
                ReadMine = Libc.TryOpen(Path.Combine(mine, "in.txt"), Libc.ORdOnly),
                CreateMine = Libc.TryOpen(Path.Combine(mine, "new.txt"), Libc.OWrOnly | Libc.OCreat),
                ReadOther = Libc.TryOpen(Path.Combine(other, "out.txt"), Libc.ORdOnly),
                CreateOther = Libc.TryOpen(Path.Combine(other, "new.txt"), Libc.OWrOnly | Libc.OCreat),
                ReadPasswd = Libc.TryOpen("/etc/passwd", Libc.ORdOnly),
            };
        });

        Assert.Equal(0, seen.ReadMine);
        Assert.Equal(0, seen.CreateMine);
        Assert.Equal(EACCES, seen.ReadOther);
        Assert.Equal(EACCES, seen.CreateOther);
        Assert.Equal(EACCES, seen.ReadPasswd);
        Assert.False(File.Exists(Path.Combine(other, "new.txt")));
        // The spec's own thread is not restricted.
        Assert.Equal("out", File.ReadAllText(Path.Combine(other, "out.txt")));
    }

    [Fact]
    public void A_read_only_rule_must_refuse_writes_beneath_it()
    {
        using var temp = new TempDirectory();
        var dir = temp.CreateSub("ro");
        File.WriteAllText(Path.Combine(dir, "f.txt"), "x");
        var (read, write) = OwnThread.Run(() =>
        {
            NoNewPrivs.SetOnThisThread();
            Landlock.RestrictThisThread([GuestHostConfinement.Beneath(dir, LandlockFs.Read)]);
            return (Libc.TryOpen(Path.Combine(dir, "f.txt"), Libc.ORdOnly), Libc.TryOpen(Path.Combine(dir, "f.txt"), Libc.OWrOnly));
        });
        Assert.Equal(0, read);
        Assert.Equal(EACCES, write);
    }

    [Fact]
    public void A_restricted_thread_must_not_connect_over_TCP()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var error = OwnThread.Run(() =>
        {
            NoNewPrivs.SetOnThisThread();
            Landlock.RestrictThisThread([]);
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                socket.Connect(IPAddress.Loopback, port);
                return SocketError.Success;
            }
            catch (SocketException e)
            {
                return e.SocketErrorCode;
            }
        });
        Assert.Equal(SocketError.AccessDenied, error);
    }

    [Fact]
    public void Restricting_must_need_no_new_privs_or_CAP_SYS_ADMIN_and_say_which_call_failed()
    {
        // As root with CAP_SYS_ADMIN it is allowed without no_new_privs: drop the capabilities first to see the refusal.
        var e = Assert.Throws<WasmKata.Linux.UnixException>(() => OwnThread.Run(() =>
        {
            Capabilities.DropAllFromThisThread();
            return Landlock.RestrictThisThread([]);
        }));
        Assert.Contains("landlock_restrict_self", e.Message, StringComparison.Ordinal);
        Assert.Equal("EPERM", e.ErrnoName);
    }
}
