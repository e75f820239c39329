namespace WasmKata.Linux.Io;

/// <summary>Anonymous fd pairs: the raw pipe behind <see cref="GuestInputPipe"/>, and async pairs for specs and tools.</summary>
internal static class Pipes
{
    /// <summary>pipe2(O_CLOEXEC): both ends blocking, neither inherited by spawned children.</summary>
    internal static unsafe (SafeFdHandle Read, SafeFdHandle Write) CreateRaw()
    {
        var fds = stackalloc int[2];
        if (Interop.Pipe2(fds, Interop.O_CLOEXEC) != 0)
            UnixErrors.ThrowLast("pipe2");

        return (new SafeFdHandle(fds[0], ownsHandle: true), new SafeFdHandle(fds[1], ownsHandle: true));
    }

    internal static (AsyncFd Reader, AsyncFd Writer) CreateAsyncPipe()
    {
        var (read, write) = CreateRaw();
        return (new AsyncFd(read, "pipe (read end)"), new AsyncFd(write, "pipe (write end)"));
    }

    internal static unsafe (AsyncFd First, AsyncFd Second) CreateAsyncSocketPair()
    {
        var fds = stackalloc int[2];
        if (Interop.SocketPair(Interop.AF_UNIX, Interop.SOCK_STREAM | Interop.SOCK_CLOEXEC, 0, fds) != 0)
            UnixErrors.ThrowLast("socketpair");

        return (new AsyncFd(new SafeFdHandle(fds[0], ownsHandle: true), "socketpair[0]"),
                new AsyncFd(new SafeFdHandle(fds[1], ownsHandle: true), "socketpair[1]"));
    }
}
