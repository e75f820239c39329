using System.Collections.Concurrent;

namespace WasmKata.Linux.Io;

/// <summary>
/// The process-wide epoll loop: one background thread waits for every registered fd. Registrations are
/// one-shot, so a fd reports at most once per arming and a stale registration can never spin the loop.
/// </summary>
internal sealed class FdReactor
{
    internal const string ThreadName = "wk-fd-reactor";
    private const int MaxEventsPerWait = 256;

    private static readonly Lazy<FdReactor> s_instance = new(() => new FdReactor(), LazyThreadSafetyMode.ExecutionAndPublication);

    private readonly SafeFdHandle _epoll;
    private readonly ConcurrentDictionary<ulong, IReadinessTarget> _targets = new();
    private readonly TaskCompletionSource<int> _threadId = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _lastToken;

    private FdReactor()
    {
        _epoll = Interop.EpollCreate1(Interop.EPOLL_CLOEXEC);
        if (_epoll.IsInvalid)
            UnixErrors.ThrowLast("epoll_create1");

        var thread = new Thread(Run) { IsBackground = true, Name = ThreadName };
        thread.UnsafeStart();
    }

    /// <summary>The reactor, started on first use.</summary>
    internal static FdReactor Instance => s_instance.Value;

    /// <summary>The kernel thread id of the reactor thread, once it runs.</summary>
    internal Task<int> ThreadId => _threadId.Task;

    /// <summary>
    /// Adds <paramref name="fd"/> disarmed. Returns 0 when epoll refuses the fd (EPERM: regular files, /dev/null),
    /// which callers treat as always ready.
    /// </summary>
    internal unsafe ulong Register(SafeFdHandle fd, IReadinessTarget target, string description)
    {
        var token = (ulong)Interlocked.Increment(ref _lastToken);
        _targets[token] = target;
        var ev = new Interop.EpollEvent { Events = Interop.EPOLLONESHOT, Data = token };
        if (Interop.EpollCtl(_epoll, Interop.EPOLL_CTL_ADD, fd, &ev) == 0)
            return token;

        var errno = Interop.Errno.Last;
        _targets.TryRemove(token, out _);
        if (errno == Interop.Errno.EPERM)
            return 0;

        UnixErrors.Throw(errno, "epoll_ctl(ADD)", description);
        return 0;
    }

    /// <summary>Arms the registration for one report of any of <paramref name="events"/> (plus HUP/ERR).</summary>
    internal unsafe void Arm(SafeFdHandle fd, ulong token, uint events, string description)
    {
        var ev = new Interop.EpollEvent { Events = events | Interop.EPOLLONESHOT, Data = token };
        if (Interop.EpollCtl(_epoll, Interop.EPOLL_CTL_MOD, fd, &ev) != 0)
            UnixErrors.ThrowLast("epoll_ctl(MOD)", description);
    }

    /// <summary>Removes the registration; must run while <paramref name="fd"/> is still open.</summary>
    internal unsafe void Unregister(SafeFdHandle fd, ulong token)
    {
        _targets.TryRemove(token, out _);

        // Closing the fd would drop the registration too, but not while a dup of it lives elsewhere.
        Interop.EpollCtl(_epoll, Interop.EPOLL_CTL_DEL, fd, null);
    }

    private unsafe void Run()
    {
        _threadId.TrySetResult(Interop.GetTid());
        var events = stackalloc Interop.EpollEvent[MaxEventsPerWait];
        while (true)
        {
            var count = Interop.EpollWait(_epoll, events, MaxEventsPerWait, -1);
            if (count < 0)
            {
                var errno = Interop.Errno.Last;
                if (errno == Interop.Errno.EINTR)
                    continue;

                // Without the loop every pending read and write in the process hangs; fail loudly instead.
                Environment.FailFast("FdReactor: epoll_wait failed: " + Interop.Errno.Describe(errno));
            }

            for (var i = 0; i < count; i++)
            {
                if (_targets.TryGetValue(events[i].Data, out var target))
                    target.OnReady(events[i].Events);
            }
        }
    }
}
