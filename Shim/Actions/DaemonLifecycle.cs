namespace WasmKata.Shim.Actions;

/// <summary>Where a daemon is in its life. It only moves forward: Serving, then Draining, then Exiting.</summary>
internal enum DaemonState
{
    /// <summary>Listening; takes claims from <c>start</c> and containerd's requests.</summary>
    Serving,

    /// <summary>Agreed to exit with no container left: its socket is released, the last replies go out.</summary>
    Draining,

    /// <summary>Ending the process (a signal, containerd gone, or the drain done); hard time bounds apply.</summary>
    Exiting,
}

/// <summary>What a claim from <c>start</c> got.</summary>
internal enum ClaimOutcome
{
    /// <summary>The daemon serves and holds a lease for the container until its Create arrives.</summary>
    Granted,

    /// <summary>The daemon is draining or exiting: <c>start</c> must bind a fresh socket.</summary>
    Refused,

    /// <summary>An exit check is under way: wait for <see cref="DaemonLifecycle.Decided"/> and claim again.</summary>
    Wait,
}

/// <summary>
/// A daemon's life as explicit states and the rule that moves it: it may leave Serving only when no lease from a
/// claim is outstanding, no Create is on its way to the sandbox and the sandbox says it holds no container. Claims and
/// Creates wait while that check runs, so a <c>start</c> either gets a daemon that stays or learns it is exiting.
/// Pure state under one lock; <see cref="DaemonSupervisor"/> does the asking and the effects.
/// </summary>
internal sealed class DaemonLifecycle
{
    /// <summary>How long a claim holds the daemon when its Create never comes (containerd failed before it).</summary>
    public static readonly TimeSpan LeaseTime = TimeSpan.FromSeconds(30);

    private readonly object _gate = new();
    private readonly Func<DateTime> _now;
    private readonly List<(string Id, DateTime Expiry)> _leases = [];
    private TaskCompletionSource _decided = Completed();
    private bool _checking;
    private int _creating;
    private int _connections;

    /// <summary>A serving daemon; with <paramref name="leasedFor"/>, it was just started (or adopted) for that container.</summary>
    public DaemonLifecycle(string? leasedFor = null, Func<DateTime>? now = null)
    {
        _now = now ?? (() => DateTime.UtcNow);
        if (leasedFor is not null)
            _leases.Add((leasedFor, _now() + LeaseTime));
    }

    public DaemonState State { get; private set; } = DaemonState.Serving;

    /// <summary>Why it left Serving.</summary>
    public string? ExitReason { get; private set; }

    /// <summary>Completes when the exit check under way (if any) is decided.</summary>
    public Task Decided
    {
        get
        {
            lock (_gate)
                return _decided.Task;
        }
    }

    /// <summary>Open ttrpc connections (containerd's tasks, and probes).</summary>
    public int Connections
    {
        get
        {
            lock (_gate)
                return _connections;
        }
    }

    /// <summary>Leases not yet used by a Create nor expired.</summary>
    public int Leases
    {
        get
        {
            lock (_gate)
            {
                DropExpiredLeases();
                return _leases.Count;
            }
        }
    }

    /// <summary>A <c>start</c> for container <paramref name="id"/> asks whether it may hand containerd this daemon's address.</summary>
    public ClaimOutcome Claim(string id)
    {
        lock (_gate)
        {
            if (State != DaemonState.Serving)
                return ClaimOutcome.Refused;
            if (_checking)
                return ClaimOutcome.Wait;
            _leases.Add((id, _now() + LeaseTime));
            return ClaimOutcome.Granted;
        }
    }

    /// <summary>A Create of <paramref name="id"/> arrives: refused once the daemon left Serving; else it uses up its lease.</summary>
    public ClaimOutcome BeginCreate(string id)
    {
        lock (_gate)
        {
            if (State != DaemonState.Serving)
                return ClaimOutcome.Refused;
            if (_checking)
                return ClaimOutcome.Wait;
            DropExpiredLeases();
            var lease = _leases.FindIndex(l => l.Id == id);
            if (lease >= 0)
                _leases.RemoveAt(lease);
            else if (_leases.Count > 0)
                _leases.RemoveAt(0);
            _creating++;
            return ClaimOutcome.Granted;
        }
    }

    /// <summary>The sandbox answered the Create (either way).</summary>
    public void EndCreate()
    {
        lock (_gate)
            _creating = Math.Max(0, _creating - 1);
    }

    /// <summary>containerd is done with <paramref name="id"/> (its Shutdown): a lease still held for it is void.</summary>
    public void Release(string id)
    {
        lock (_gate)
            _leases.RemoveAll(l => l.Id == id);
    }

    public void ConnectionOpened()
    {
        lock (_gate)
            _connections++;
    }

    /// <summary>A connection closed; true when none is left.</summary>
    public bool ConnectionClosed()
    {
        lock (_gate)
        {
            _connections = Math.Max(0, _connections - 1);
            return _connections == 0;
        }
    }

    /// <summary>
    /// Starts an exit check: true when the daemon serves, holds no lease, has no Create in flight and no other check
    /// runs. Until <see cref="EndCheck"/>, claims and Creates wait.
    /// </summary>
    public bool TryBeginCheck()
    {
        lock (_gate)
        {
            DropExpiredLeases();
            if (State != DaemonState.Serving || _checking || _creating > 0 || _leases.Count > 0)
                return false;
            _checking = true;
            _decided = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return true;
        }
    }

    /// <summary>
    /// Ends the check with the sandbox's answer; true when the daemon now drains (the caller releases the socket and
    /// exits). Waiting claims and Creates go on after this.
    /// </summary>
    public bool EndCheck(bool sandboxEmpty, string reason)
    {
        TaskCompletionSource decided;
        bool draining;
        lock (_gate)
        {
            if (!_checking)
                throw new InvalidOperationException("no exit check is under way");
            _checking = false;
            draining = sandboxEmpty && State == DaemonState.Serving;
            if (draining)
            {
                State = DaemonState.Draining;
                ExitReason = reason;
            }
            decided = _decided;
        }
        decided.TrySetResult();
        return draining;
    }

    /// <summary>The daemon ends now, from any state; true the first time.</summary>
    public bool Terminate(string reason)
    {
        TaskCompletionSource decided;
        lock (_gate)
        {
            if (State == DaemonState.Exiting)
                return false;
            State = DaemonState.Exiting;
            ExitReason ??= reason;
            decided = _decided;
        }
        decided.TrySetResult();
        return true;
    }

    /// <summary>The drain is done: exiting (no-op when already exiting).</summary>
    public void Drained() => Terminate("drained");

    private void DropExpiredLeases()
    {
        var now = _now();
        _leases.RemoveAll(l => l.Expiry <= now);
    }

    private static TaskCompletionSource Completed()
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        done.SetResult();
        return done;
    }
}
