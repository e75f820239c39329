namespace WasmKata.Linux.Io;

/// <summary>
/// A non-blocking file descriptor with async reads and writes that wait on the shared <see cref="FdReactor"/>
/// instead of a thread. One read and one write may be pending at a time.
/// </summary>
public sealed class AsyncFd : IDisposable
{
    private readonly SafeFdHandle _fd;
    private readonly string _description;
    private readonly bool _eofNeedsReadiness;
    private readonly PollRegistration? _poll;
    private int _disposed;
    private int _readBusy;
    private int _writeBusy;
    private long _readSyscalls;

    /// <summary>
    /// Takes ownership of <paramref name="fd"/> and makes it non-blocking. With <paramref name="eofNeedsReadiness"/>
    /// a 0 from read(2) counts as EOF only once the kernel has shown a peer exists (a FIFO opened before its writer).
    /// </summary>
    internal AsyncFd(SafeFdHandle fd, string description, bool eofNeedsReadiness = false)
    {
        ArgumentNullException.ThrowIfNull(fd);
        if (fd.IsInvalid)
            throw new ArgumentException("The fd handle is invalid.", nameof(fd));

        _fd = fd;
        _description = description;
        _eofNeedsReadiness = eofNeedsReadiness;
        try
        {
            SetNonBlocking(true);
            _poll = PollRegistration.TryCreate(fd, description);
            if (_poll is null)
            {
                // epoll refuses regular files and some devices; those never return EAGAIN, so block plainly.
                SetNonBlocking(false);
            }
        }
        catch
        {
            _poll?.Dispose();
            fd.Dispose();
            throw;
        }
    }

    /// <summary>What this fd is, for messages: a path or "pipe".</summary>
    internal string Description => _description;

    /// <summary>False for fds epoll refuses; those are always ready and use plain blocking calls.</summary>
    internal bool IsPollable => _poll is not null;

    /// <summary>How many read(2) calls were made; lets specs prove that waiting does not spin.</summary>
    internal long ReadSyscalls => Interlocked.Read(ref _readSyscalls);

    /// <summary>Reads at most <paramref name="buffer"/>.Length bytes; 0 means end of stream (or an empty buffer).</summary>
    public async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        if (buffer.IsEmpty)
            return 0;

        Enter(ref _readBusy, "read");
        try
        {
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var n = TryRead(buffer.Span);
                if (n > 0)
                    return n;

                if (_poll is null)
                    return n == 0 ? 0 : throw new UnixException(Interop.Errno.EAGAIN, "read", _description);

                if (n == 0)
                {
                    // A FIFO reader opened before any writer also reads 0. Only once epoll reported IN or HUP
                    // (a writer connected since our open) does 0 mean that every writer has left.
                    if (!_eofNeedsReadiness || _poll.ReadableSeen)
                        return 0;
                }
                else if (_eofNeedsReadiness)
                {
                    // EAGAIN on a FIFO means a writer is connected right now.
                    _poll.MarkReadableSeen();
                }

                await _poll.WaitAsync(forRead: true, cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            Volatile.Write(ref _readBusy, 0);
        }
    }

    /// <summary>
    /// Completes once a read would not block (data, end of stream or an error is there), without taking a byte: a
    /// reader that waits here holds no buffer while the fd is idle. Returns at once for fds epoll refuses.
    /// </summary>
    public async ValueTask WaitReadableAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        if (_poll is null)
            return;

        Enter(ref _readBusy, "read");
        try
        {
            // Level-triggered: readiness that is already there is reported at once.
            await _poll.WaitAsync(forRead: true, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            Volatile.Write(ref _readBusy, 0);
        }
    }

    /// <summary>Writes all of <paramref name="data"/>; throws <see cref="BrokenPipeException"/> when no reader is left.</summary>
    public async ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        Enter(ref _writeBusy, "write");
        try
        {
            while (!data.IsEmpty)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var n = TryWrite(data.Span);
                if (n > 0)
                {
                    data = data[n..];
                    continue;
                }

                if (n == 0 || _poll is null)
                    throw new UnixException(n == 0 ? Interop.Errno.EIO : Interop.Errno.EAGAIN, "write", _description);

                await _poll.WaitAsync(forRead: false, cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            Volatile.Write(ref _writeBusy, 0);
        }
    }

    /// <summary>
    /// True when this fd is itself a reader of the FIFO it writes (opened O_RDWR because no reader was there yet): while
    /// it is open the kernel counts it among the readers, and its <see cref="PipeBacklog"/> never says the readers left.
    /// </summary>
    public bool ReadsItself { get; internal init; }

    /// <summary>
    /// For a pipe or FIFO: the bytes written into it that no reader has taken yet (FIONREAD), and whether a reader is
    /// still there to take them. Both ends of a pipe share the one buffer, so this works on the write end too.
    /// </summary>
    public (int Unread, bool HasReader) PipeBacklog()
    {
        var added = false;
        try
        {
            // Keeps the number from being closed (and reused) while the two calls use it.
            _fd.DangerousAddRef(ref added);
            if (Interop.Ioctl(_fd, Interop.FIONREAD, out var unread) != 0)
                UnixErrors.ThrowLast("ioctl(FIONREAD)", _description);

            return (unread, PollForReader());
        }
        catch (ObjectDisposedException)
        {
            return (0, false);
        }
        finally
        {
            if (added)
                _fd.DangerousRelease();
        }
    }

    // The kernel flags the write end of a pipe with POLLERR once no read end is open; the caller holds a reference.
    private unsafe bool PollForReader()
    {
        var poll = new Interop.PollFd { Fd = _fd.DangerousFd, Events = Interop.POLLOUT };
        while (Interop.Poll(&poll, 1, 0) < 0)
        {
            if (Interop.Errno.Last != Interop.Errno.EINTR)
                UnixErrors.ThrowLast("poll", _description);
        }

        return (poll.Revents & Interop.POLLERR) == 0;
    }

    /// <summary>
    /// Fails pending waits with <see cref="ObjectDisposedException"/> and closes the fd as soon as no syscall uses it,
    /// so an in-flight call can never reach a reused fd number.
    /// </summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;

        _poll?.Dispose();
        _fd.Dispose();
    }

    private unsafe int TryRead(Span<byte> buffer)
    {
        fixed (byte* p = buffer)
        {
            while (true)
            {
                Interlocked.Increment(ref _readSyscalls);
                var n = Interop.Read(_fd, p, (nuint)buffer.Length);
                if (n >= 0)
                    return (int)n;

                var errno = Interop.Errno.Last;
                if (errno == Interop.Errno.EAGAIN)
                    return -1;

                if (errno != Interop.Errno.EINTR)
                    UnixErrors.Throw(errno, "read", _description);
            }
        }
    }

    private unsafe int TryWrite(ReadOnlySpan<byte> data)
    {
        fixed (byte* p = data)
        {
            while (true)
            {
                var n = Interop.Write(_fd, p, (nuint)data.Length);
                if (n >= 0)
                    return (int)n;

                var errno = Interop.Errno.Last;
                if (errno == Interop.Errno.EAGAIN)
                    return -1;

                if (errno != Interop.Errno.EINTR)
                    UnixErrors.Throw(errno, "write", _description);
            }
        }
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);

    private void Enter(ref int busy, string operation)
    {
        if (Interlocked.Exchange(ref busy, 1) != 0)
            throw new InvalidOperationException($"A {operation} is already pending on '{_description}'.");
    }

    private void SetNonBlocking(bool nonBlocking)
    {
        var flags = Interop.Fcntl(_fd, Interop.F_GETFL, 0);
        if (flags < 0)
            UnixErrors.ThrowLast("fcntl(F_GETFL)", _description);

        var wanted = nonBlocking ? flags | Interop.O_NONBLOCK : flags & ~Interop.O_NONBLOCK;
        if (wanted != flags && Interop.Fcntl(_fd, Interop.F_SETFL, wanted) < 0)
            UnixErrors.ThrowLast("fcntl(F_SETFL)", _description);
    }
}
