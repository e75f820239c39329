namespace WasmKata.Linux.Io;

/// <summary>
/// One fd's registration with the <see cref="FdReactor"/>: at most one read waiter and one write waiter, armed
/// one-shot for their combined interest and re-armed for whoever still waits after each report.
/// </summary>
internal sealed class PollRegistration : IReadinessTarget, IDisposable
{
    private const uint ReadEvents = Interop.EPOLLIN | Interop.EPOLLRDHUP;
    private const uint WriteEvents = Interop.EPOLLOUT;
    private const uint ReadWakeEvents = ReadEvents | Interop.EPOLLHUP | Interop.EPOLLERR;
    private const uint WriteWakeEvents = WriteEvents | Interop.EPOLLHUP | Interop.EPOLLERR;

    private readonly FdReactor _reactor;
    private readonly SafeFdHandle _fd;
    private readonly string _description;
    private readonly ulong _token;
    private readonly Lock _gate = new();
    private TaskCompletionSource? _readWaiter;
    private TaskCompletionSource? _writeWaiter;
    private bool _disposed;
    private bool _readableSeen;

    private PollRegistration(FdReactor reactor, SafeFdHandle fd, string description)
    {
        _reactor = reactor;
        _fd = fd;
        _description = description;
        _token = reactor.Register(fd, this, description);
    }

    /// <summary>
    /// True once epoll reported the fd readable or hung up, or <see cref="MarkReadableSeen"/> was called. For a FIFO
    /// reader that means a writer has connected since the open.
    /// </summary>
    internal bool ReadableSeen => Volatile.Read(ref _readableSeen);

    /// <summary>Registers <paramref name="fd"/>, or returns null when epoll refuses it (regular files, /dev/null).</summary>
    internal static PollRegistration? TryCreate(SafeFdHandle fd, string description)
    {
        var registration = new PollRegistration(FdReactor.Instance, fd, description);
        return registration._token == 0 ? null : registration;
    }

    internal void MarkReadableSeen() => Volatile.Write(ref _readableSeen, true);

    /// <summary>Completes at the next readiness report for the direction; call only after the syscall said EAGAIN.</summary>
    internal async Task WaitAsync(bool forRead, CancellationToken cancellationToken)
    {
        var waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, typeof(AsyncFd));
            if (forRead)
                _readWaiter = waiter;
            else
                _writeWaiter = waiter;

            try
            {
                // Level-triggered arming after the failed syscall cannot miss readiness that arrived in between.
                ArmLocked();
            }
            catch
            {
                ClearLocked(waiter);
                throw;
            }
        }

        await using var registration = cancellationToken.UnsafeRegister(
            static (state, token) =>
            {
                var (self, w) = ((PollRegistration, TaskCompletionSource))state!;
                self.Cancel(w, token);
            },
            (this, waiter)).ConfigureAwait(false);
        await waiter.Task.ConfigureAwait(false);
    }

    /// <summary>Removes the registration while the fd is still open and fails pending waits; nothing re-arms afterwards.</summary>
    public void Dispose()
    {
        TaskCompletionSource? reader;
        TaskCompletionSource? writer;
        lock (_gate)
        {
            if (_disposed)
                return;

            _disposed = true;
            reader = _readWaiter;
            writer = _writeWaiter;
            _readWaiter = _writeWaiter = null;
        }

        _reactor.Unregister(_fd, _token);
        reader?.TrySetException(new ObjectDisposedException(nameof(AsyncFd), $"'{_description}' was closed while a read was pending."));
        writer?.TrySetException(new ObjectDisposedException(nameof(AsyncFd), $"'{_description}' was closed while a write was pending."));
    }

    void IReadinessTarget.OnReady(uint events)
    {
        TaskCompletionSource? reader = null;
        TaskCompletionSource? writer = null;
        lock (_gate)
        {
            if ((events & ReadWakeEvents) != 0)
                _readableSeen = true;

            if (_disposed)
                return;

            if ((events & ReadWakeEvents) != 0)
            {
                reader = _readWaiter;
                _readWaiter = null;
            }

            if ((events & WriteWakeEvents) != 0)
            {
                writer = _writeWaiter;
                _writeWaiter = null;
            }

            // The one-shot registration is now disarmed; keep watching for whoever still waits.
            if (_readWaiter is not null || _writeWaiter is not null)
            {
                try
                {
                    ArmLocked();
                }
                catch (Exception e)
                {
                    _readWaiter?.TrySetException(e);
                    _writeWaiter?.TrySetException(e);
                    _readWaiter = _writeWaiter = null;
                }
            }
        }

        reader?.TrySetResult();
        writer?.TrySetResult();
    }

    private void Cancel(TaskCompletionSource waiter, CancellationToken token)
    {
        lock (_gate)
        {
            ClearLocked(waiter);
        }

        // A still-armed registration may report later; OnReady then finds nobody and stays disarmed.
        waiter.TrySetCanceled(token);
    }

    private void ClearLocked(TaskCompletionSource waiter)
    {
        if (_readWaiter == waiter)
            _readWaiter = null;

        if (_writeWaiter == waiter)
            _writeWaiter = null;
    }

    private void ArmLocked()
    {
        var events = (_readWaiter is null ? 0 : ReadEvents) | (_writeWaiter is null ? 0 : WriteEvents);
        _reactor.Arm(_fd, _token, events, _description);
    }
}
