using System.Text;

namespace WasmKata.Linux.Io;

/// <summary>
/// A pseudo-terminal pair made by the shim itself (a wasm guest has no process to hand a slave to): the master is
/// what the pumps copy to and from containerd's FIFOs; the slave is the terminal side, with the kernel's line
/// discipline (echo, line editing, CR/LF mapping) between the two. Neither end is ever this process's controlling
/// terminal (O_NOCTTY), so no terminal signal can reach the shim.
/// </summary>
public sealed class Pty : IDisposable
{
    // The master's handle as AsyncFd owns it: SafeHandle reference counts keep an ioctl off a closed fd number.
    private readonly SafeFdHandle _masterHandle;
    private AsyncFd? _slave;

    private Pty(SafeFdHandle masterHandle, AsyncFd master, AsyncFd slave, string slavePath)
    {
        _masterHandle = masterHandle;
        Master = master;
        _slave = slave;
        SlavePath = slavePath;
    }

    /// <summary>The master side, non-blocking. Reading it yields the terminal's output, then EIO once the slave is closed.</summary>
    public AsyncFd Master { get; }

    /// <summary>The slave side, non-blocking; throws <see cref="ObjectDisposedException"/> after <see cref="CloseSlave"/>.</summary>
    public AsyncFd Slave => _slave ?? throw new ObjectDisposedException(nameof(Pty), "the slave side is closed");

    /// <summary>The slave's device path (<c>/dev/pts/N</c>).</summary>
    public string SlavePath { get; }

    /// <summary>Opens a new pair with the kernel's default terminal settings and a 0×0 window.</summary>
    public static unsafe Pty Open()
    {
        var masterFd = Interop.PosixOpenPt(Interop.O_RDWR | Interop.O_NOCTTY | Interop.O_CLOEXEC);
        if (masterFd < 0)
            UnixErrors.ThrowLast("posix_openpt", "/dev/ptmx");
        var master = new SafeFdHandle(masterFd, ownsHandle: true);
        SafeFdHandle? slave = null;
        try
        {
            if (Interop.GrantPt(master) != 0)
                UnixErrors.ThrowLast("grantpt", "/dev/ptmx");
            if (Interop.UnlockPt(master) != 0)
                UnixErrors.ThrowLast("unlockpt", "/dev/ptmx");
            var name = stackalloc byte[128];
            var error = Interop.PtsNameR(master, name, 128);
            if (error != 0)
                UnixErrors.Throw(error, "ptsname_r", "/dev/ptmx");
            var path = Encoding.UTF8.GetString(new ReadOnlySpan<byte>(name, 128) is var raw && raw.IndexOf((byte)0) is var end and >= 0 ? raw[..end] : raw);
            slave = Interop.Open(path, Interop.O_RDWR | Interop.O_NOCTTY | Interop.O_CLOEXEC, 0);
            if (slave.IsInvalid)
                UnixErrors.ThrowLast("open", path);
            var masterAsync = new AsyncFd(master, "pty master " + path);
            try
            {
                return new Pty(master, masterAsync, new AsyncFd(slave, path), path);
            }
            catch
            {
                masterAsync.Dispose();
                throw;
            }
        }
        catch
        {
            slave?.Dispose();
            master.Dispose();
            throw;
        }
    }

    /// <summary>Sets the terminal's window size (TIOCSWINSZ on the master), as a terminal emulator does on resize.</summary>
    public void Resize(ushort columns, ushort rows)
    {
        var size = new Interop.WinSize { Columns = columns, Rows = rows };
        if (Interop.Ioctl(_masterHandle, Interop.TIOCSWINSZ, ref size) != 0)
            UnixErrors.ThrowLast("ioctl(TIOCSWINSZ)", SlavePath);
    }

    /// <summary>The terminal's window size as anything reading it (TIOCGWINSZ) sees it.</summary>
    public (ushort Columns, ushort Rows) WindowSize()
    {
        var size = default(Interop.WinSize);
        if (Interop.Ioctl(_masterHandle, Interop.TIOCGWINSZ, ref size) != 0)
            UnixErrors.ThrowLast("ioctl(TIOCGWINSZ)", SlavePath);
        return (size.Columns, size.Rows);
    }

    /// <summary>The window size of the terminal at <paramref name="path"/> (a <c>/dev/pts/N</c>), opened without becoming its controller.</summary>
    public static (ushort Columns, ushort Rows) WindowSizeOf(string path)
    {
        using var fd = Interop.Open(path, Interop.O_RDONLY | Interop.O_NOCTTY | Interop.O_NONBLOCK | Interop.O_CLOEXEC, 0);
        if (fd.IsInvalid)
            UnixErrors.ThrowLast("open", path);
        var size = default(Interop.WinSize);
        if (Interop.Ioctl(fd, Interop.TIOCGWINSZ, ref size) != 0)
            UnixErrors.ThrowLast("ioctl(TIOCGWINSZ)", path);
        return (size.Columns, size.Rows);
    }

    /// <summary>Whether a read of the master failed because the slave side is closed and drained (EIO).</summary>
    public static bool IsSlaveClosed(Exception e) => e is UnixException { Errno: Interop.Errno.EIO };

    /// <summary>Closes the slave side: once the master has read what is left, its reads fail with EIO. Idempotent.</summary>
    public void CloseSlave() => Interlocked.Exchange(ref _slave, null)?.Dispose();

    /// <summary>Closes both sides.</summary>
    public void Dispose()
    {
        CloseSlave();
        Master.Dispose();
    }
}
