using System.Net.Sockets;
using System.Text;

namespace WasmKata.Linux.Processes;

/// <summary>The shim's listening Unix socket, bound in the start process before the address is printed.</summary>
public static class UnixListener
{
    // Go's listeners (containerd's, runc's shim) ask for somaxconn; with 128, a pod starting a few hundred containers
    // at once had clients' connects fail with EAGAIN while the shim was busy. The kernel caps it at somaxconn.
    private const int Backlog = 4096;
    private const int MaxPathBytes = 107; // sun_path is 108 bytes including the terminating NUL
    private const uint DirectoryMode = 0x1C9; // 0711
    private const uint SocketMode = 0x180; // 0600

    /// <summary>
    /// Creates the parent directory (0711), binds, listens and makes the socket file 0600. An existing file gives a
    /// <see cref="SocketException"/> with <see cref="SocketError.AddressAlreadyInUse"/>; with <paramref name="replaceStale"/>
    /// a socket file nobody listens on is deleted and bound again once (runc's rule), a live one still throws.
    /// </summary>
    public static Socket Bind(string socketPath, bool replaceStale = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(socketPath);
        if (!Path.IsPathRooted(socketPath))
            throw new ArgumentException($"Socket path '{socketPath}' must be absolute.", nameof(socketPath));

        if (Encoding.UTF8.GetByteCount(socketPath) > MaxPathBytes)
            throw new ArgumentException($"Socket path '{socketPath}' is longer than {MaxPathBytes} bytes.", nameof(socketPath));

        CreateSocketDirectory(Path.GetDirectoryName(socketPath)!);
        try
        {
            return BindOnce(socketPath);
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse && replaceStale && IsStaleSocket(socketPath))
        {
            File.Delete(socketPath);
            return BindOnce(socketPath);
        }
    }

    /// <summary>True when something accepts connections on <paramref name="socketPath"/>.</summary>
    public static bool IsServing(string socketPath)
    {
        ArgumentException.ThrowIfNullOrEmpty(socketPath);
        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified) { Blocking = false };
        try
        {
            probe.Connect(new UnixDomainSocketEndPoint(socketPath));
            return true;
        }
        catch (SocketException e)
        {
            // A non-blocking Unix connect fails with EAGAIN only when a listener exists but its backlog is full.
            return e.SocketErrorCode == SocketError.WouldBlock;
        }
    }

    /// <summary>Like mkdir -p, with 0711 for the directories it creates (subject to the umask).</summary>
    private static void CreateSocketDirectory(string directory)
    {
        if (Directory.Exists(directory))
            return;

        var parent = Path.GetDirectoryName(directory);
        if (parent is not null)
            CreateSocketDirectory(parent);

        if (Interop.Mkdir(directory, DirectoryMode) != 0 && Interop.Errno.Last != Interop.Errno.EEXIST)
            UnixErrors.ThrowLast("mkdir", directory);
    }

    /// <summary>
    /// In the daemon: takes over the listening socket inherited as <paramref name="fd"/> (3 by runc's convention)
    /// and marks it close-on-exec so children the daemon starts do not hold it.
    /// </summary>
    public static Socket AdoptInherited(int fd = Daemon.ListenerFd)
    {
        if (Interop.Fcntl(fd, Interop.F_SETFD, Interop.FD_CLOEXEC) != 0)
            UnixErrors.ThrowLast("fcntl(F_SETFD, FD_CLOEXEC) on the inherited listener", $"fd {fd}");

        return Adopt(new SafeSocketHandle(fd, ownsHandle: true), $"Inherited fd {fd}");
    }

    /// <summary>
    /// Takes over <paramref name="handle"/> (the listening socket a spare is handed); <see cref="InvalidOperationException"/>
    /// naming <paramref name="what"/> when it is not a listening Unix socket, and the handle is closed then.
    /// </summary>
    public static Socket Adopt(SafeSocketHandle handle, string what)
    {
        ArgumentNullException.ThrowIfNull(handle);
        Socket socket;
        try
        {
            socket = new Socket(handle);
        }
        catch (SocketException e)
        {
            handle.Dispose();
            throw new InvalidOperationException($"{what} is not a socket: {e.Message}", e);
        }

        if (socket.AddressFamily != AddressFamily.Unix
            || (int)socket.GetSocketOption(SocketOptionLevel.Socket, SocketOptionName.AcceptConnection)! == 0)
        {
            socket.Dispose();
            throw new InvalidOperationException($"{what} is not a listening Unix socket.");
        }

        return socket;
    }

    private static bool IsStaleSocket(string socketPath) =>
        Interop.FileType(socketPath) == Interop.S_IFSOCK && !IsServing(socketPath);

    // Bound natively and wrapped afterwards: a Socket that bound a path itself deletes the file when disposed,
    // which would pull the address from under the daemon as soon as the start process lets go of its copy.
    private static unsafe Socket BindOnce(string socketPath)
    {
        var fd = Interop.Socket(Interop.AF_UNIX, Interop.SOCK_STREAM | Interop.SOCK_CLOEXEC, 0);
        if (fd < 0)
            UnixErrors.ThrowLast("socket(AF_UNIX)", socketPath);

        var handle = new SafeSocketHandle(fd, ownsHandle: true);
        try
        {
            var address = stackalloc byte[Interop.SockAddrUnSize];
            new Span<byte>(address, Interop.SockAddrUnSize).Clear();
            *(ushort*)address = Interop.AF_UNIX;
            var pathLength = Encoding.UTF8.GetBytes(socketPath, new Span<byte>(address + Interop.SunPathOffset, MaxPathBytes));
            if (Interop.Bind(handle, address, (uint)(Interop.SunPathOffset + pathLength + 1)) != 0)
            {
                var errno = Interop.Errno.Last;
                if (errno == Interop.Errno.EADDRINUSE)
                    throw new SocketException((int)SocketError.AddressAlreadyInUse, UnixException.FormatMessage(errno, "bind", socketPath));

                UnixErrors.Throw(errno, "bind", socketPath);
            }

            if (Interop.Chmod(socketPath, SocketMode) != 0)
                UnixErrors.ThrowLast("chmod", socketPath);

            if (Interop.Listen(handle, Backlog) != 0)
                UnixErrors.ThrowLast("listen", socketPath);

            return new Socket(handle);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }
}
