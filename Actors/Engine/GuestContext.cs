using System.Diagnostics;

namespace WasmKata.Actors.Engine;

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
    private int _outcome = Running;

    /// <summary>Stopwatch timestamp taken right after the WASI context (and its monotonic clock) was created.</summary>
    public long MonotonicBase { get; set; }

    public bool KillRequested => (Volatile.Read(ref _outcome) & KilledFlag) != 0;

    public bool HasEnded => Volatile.Read(ref _outcome) != Running;

    /// <summary>Marks the guest killed unless it already ended; wakes a guest sleeping in <c>poll_oneoff</c>.</summary>
    public bool TryKill(int signal)
    {
        if (Interlocked.CompareExchange(ref _outcome, KilledFlag | signal, Running) != Running)
            return false;
        _killed.Set();
        return true;
    }

    /// <summary>Records a <c>proc_exit</c> or a normal return; the low 8 bits are kept, as a process's are.</summary>
    public void TryExit(int code) => Interlocked.CompareExchange(ref _outcome, ExitedFlag | (code & 0xFF), Running);

    public void TryTrap() => Interlocked.CompareExchange(ref _outcome, TrappedFlag, Running);

    /// <summary>Waits up to <paramref name="milliseconds"/>; true when a kill arrived.</summary>
    public bool WaitForKill(int milliseconds) => _killed.Wait(milliseconds);

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
            return new GuestExit(128 + (outcome & 0xFF), null, Killed: true);
        if ((outcome & ExitedFlag) != 0)
            return new GuestExit(outcome & 0xFF, null, Killed: false);
        Debug.Assert((outcome & TrappedFlag) != 0, "ToExit before the guest ended");
        return new GuestExit(GuestExit.TrapStatus, trapMessage ?? "wasm trap", Killed: false);
    }
}

/// <summary>Thrown by our host functions and the epoch callback to end guest execution at once; never leaves the engine.</summary>
internal sealed class GuestStopException(string message) : Exception(message);
