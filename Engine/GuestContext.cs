using System.Diagnostics;
using WasmKata.Core;

namespace WasmKata.Engine;

/// <summary>Per-guest state shared by the guest thread, our host functions (as store data) and Kill.</summary>
/// <remarks>
/// How the guest ended is one word set once: the first of exit, kill and trap wins, so a kill that lands while the
/// guest is already exiting or trapping is reported as the kill, and a kill after a real exit changes nothing.
/// </remarks>
internal sealed class GuestContext
{
    private const int Running = 0;
    private const int ExitedFlag = 0x100;
    private const int KilledFlag = 0x10000;
    private const int TrappedFlag = 0x20000;

    // Never disposed on purpose: Kill may race with the end of the run, and without WaitHandle ever being asked for
    // the event holds no kernel object.
    private readonly ManualResetEventSlim _killed = new(false);

    // Pause and CPU-throttle parking block the guest thread on this monitor; Kill, Resume and limit updates pulse it.
    private readonly object _parking = new();
    private bool _paused;
    private int _wakeups;
    private int _outcome = Running;

    // Touched only by the thread that uses the store: whether this guest counts as executing wasm code in the engine
    // (which runs the epoch ticker only while some guest does).
    private readonly WasmEngine? _engine;
    private bool _executing;
    // A bit per fd 0, 1, 2 the guest closed or renumbered (guest thread only).
    private int _detachedStdio;

    public GuestContext(WasmEngine? engine = null) => _engine = engine;

    /// <summary>Where our <c>fd_write</c> puts fd 1; null leaves it to Wasmtime's WASI.</summary>
    public IGuestOutput? Stdout { get; set; }

    /// <summary>Where our <c>fd_write</c> puts fd 2; null leaves it to Wasmtime's WASI.</summary>
    public IGuestOutput? Stderr { get; set; }

    /// <summary>Where our <c>fd_read</c> reads fd 0 (the stdin pipe), on the guest's thread; null leaves it to Wasmtime's WASI.</summary>
    public Stream? Stdin { get; set; }

    /// <summary>
    /// Whether <paramref name="fd"/> (0, 1 or 2) still is the container's stdin, stdout or stderr: not once the guest
    /// closed it or renumbered onto or off it (a program that closes stderr and opens a file gets fd 2 for the file;
    /// one that dup2s a file onto stdout sends its output there). Then Wasmtime's fd table says what it is.
    /// </summary>
    public bool IsStdio(int fd) => fd is >= 0 and <= 2 && (_detachedStdio & (1 << fd)) == 0;

    /// <summary>The guest closed or renumbered <paramref name="fd"/>: from now on it goes to Wasmtime's WASI.</summary>
    public void DetachStdio(int fd)
    {
        if (fd is >= 0 and <= 2)
            _detachedStdio |= 1 << fd;
    }

    /// <summary>Wasmtime's own <c>fd_write</c> and <c>fd_read</c> in this guest's store: every other fd.</summary>
    public WasiPassthrough? Passthrough { get; set; }

    /// <summary>The guest's exported memory once instantiated (before that our functions ask the caller).</summary>
    public Wasmtime.Memory? Memory { get; set; }

    /// <summary>Stopwatch timestamp taken right after the WASI context (and its monotonic clock) was created.</summary>
    public long MonotonicBase { get; set; }

    /// <summary>Run on the guest thread before it blocks in the host (a sleep): figures sampled at epoch ticks, such as
    /// the memory size, would otherwise stay stale for as long as the guest sleeps.</summary>
    public Action? BeforeBlocking { get; set; }

    /// <summary>On the store's thread: wasm code may run from now until the scope ends (the ticker must run).</summary>
    public ExecutionScope Executing()
    {
        if (_executing || _engine is null)
            return default;
        _executing = true;
        _engine.EnterWasm();
        return new ExecutionScope(this, Leave: true);
    }

    /// <summary>
    /// On the store's thread: the guest blocks in the host until the scope ends and executes nothing meanwhile (no
    /// ticks needed: Kill, Resume and limit changes wake it directly). Nested scopes are fine.
    /// </summary>
    public ExecutionScope Blocking()
    {
        if (!_executing || _engine is null)
            return default;
        _executing = false;
        _engine.LeaveWasm();
        return new ExecutionScope(this, Leave: false);
    }

    public bool KillRequested => (Volatile.Read(ref _outcome) & KilledFlag) != 0;

    public bool HasEnded => Volatile.Read(ref _outcome) != Running;

    /// <summary>Marks the guest killed unless it already ended; wakes a guest sleeping in <c>poll_oneoff</c>.</summary>
    public bool TryKill(int signal)
    {
        if (Interlocked.CompareExchange(ref _outcome, KilledFlag | signal, Running) != Running)
            return false;
        _killed.Set();
        Wake();
        return true;
    }

    internal void Restore(bool leave)
    {
        _executing = !leave;
        if (leave)
            _engine!.LeaveWasm();
        else
            _engine!.EnterWasm();
    }

    public bool PauseRequested => Volatile.Read(ref _paused);

    /// <summary>Sets or clears the pause; the guest thread blocks at its next check and continues after Resume.</summary>
    public void SetPaused(bool paused)
    {
        lock (_parking)
        {
            _paused = paused;
            _wakeups++;
            Monitor.PulseAll(_parking);
        }
    }

    /// <summary>Ends any parking of the guest thread early, so it re-reads its limits.</summary>
    public void Wake()
    {
        lock (_parking)
        {
            _wakeups++;
            Monitor.PulseAll(_parking);
        }
    }

    /// <summary>On the guest thread: blocks (no spinning) while the guest is paused, until Resume or Kill.</summary>
    public void WaitWhilePaused()
    {
        if (!Volatile.Read(ref _paused))
            return;
        using var blocking = Blocking();
        lock (_parking)
        {
            while (_paused && !KillRequested)
                Monitor.Wait(_parking);
        }
    }

    /// <summary>On the guest thread: blocks until the Stopwatch timestamp <paramref name="until"/>, or earlier on Kill, a pause change or <see cref="Wake"/>.</summary>
    public void ParkUntil(long until)
    {
        using var blocking = Blocking();
        lock (_parking)
        {
            var seen = _wakeups;
            while (!KillRequested && _wakeups == seen)
            {
                var remaining = until - Stopwatch.GetTimestamp();
                if (remaining <= 0)
                    return;
                var ms = Math.Ceiling(remaining * 1000d / Stopwatch.Frequency);
                Monitor.Wait(_parking, (int)Math.Clamp(ms, 1, int.MaxValue - 1));
            }
        }
    }

    /// <summary>Records a <c>proc_exit</c> or a normal return; the low 8 bits are kept, as a process's are.</summary>
    public void TryExit(int code) => Interlocked.CompareExchange(ref _outcome, ExitedFlag | (code & 0xFF), Running);

    public void TryTrap() => Interlocked.CompareExchange(ref _outcome, TrappedFlag, Running);

    /// <summary>
    /// Waits up to <paramref name="milliseconds"/>; true when a kill arrived. A wait that times out while the guest is
    /// paused goes on until Resume or Kill, so a guest sleeping in <c>poll_oneoff</c> stays asleep while paused.
    /// </summary>
    public bool WaitForKill(int milliseconds)
    {
        if (_killed.Wait(milliseconds))
            return true;
        WaitWhilePaused();
        return KillRequested;
    }

    /// <summary>Ends the guest's current call into the host if it was killed.</summary>
    public void ThrowIfKilled()
    {
        if (KillRequested)
            throw new GuestStopException("killed");
    }

    public GuestExit ToExit(string? trapMessage)
    {
        var outcome = Volatile.Read(ref _outcome);
        if ((outcome & KilledFlag) != 0)
            return new GuestExit(ExitStatus.Signalled(outcome & 0xFF), null, Killed: true);
        if ((outcome & ExitedFlag) != 0)
            return new GuestExit(outcome & 0xFF, null, Killed: false);
        Debug.Assert((outcome & TrappedFlag) != 0, "ToExit before the guest ended");
        return new GuestExit(GuestExit.TrapStatus, trapMessage ?? "wasm trap", Killed: false);
    }
}

/// <summary>Undoes <see cref="GuestContext.Executing"/> or <see cref="GuestContext.Blocking"/>; the default undoes nothing.</summary>
internal readonly record struct ExecutionScope(GuestContext? Context, bool Leave) : IDisposable
{
    public void Dispose()
    {
        if (Context is not null)
            Context.Restore(Leave);
    }
}

/// <summary>Thrown by our host functions and the epoch callback to end guest execution at once; never leaves the engine.</summary>
internal sealed class GuestStopException(string message) : Exception(message);
