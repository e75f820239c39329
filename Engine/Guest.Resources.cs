using System.Diagnostics;
using WasmKata.Core.Plan;
using WasmKata.Linux;
using Wasmtime;

namespace WasmKata.Engine;

/// <summary>How a guest ran into its memory limit; see <see cref="Guest.OomOccurred"/>.</summary>
/// <param name="MemoryBytes">The guest's linear memory when it was seen at the limit.</param>
/// <param name="LimitBytes">The limit in force.</param>
/// <param name="Count">How many times this guest has reached its limit so far, this one included.</param>
public readonly record struct GuestOom(long MemoryBytes, long LimitBytes, long Count);

// Resource control of one guest: pause, memory limit (and running into it), CPU quota and CPU time. Everything that
// touches the store runs on the guest's own thread (a Wasmtime store must not be used by two threads at once): the
// public methods only record what is wanted and wake the guest, which applies it at its next epoch check.
public sealed partial class Guest
{
    private const long NoLimit = -1;
    private const long WasmPageBytes = 65536;

    private readonly CpuThrottle _throttle = new();
    private long _memoryLimit;
    private int _memoryLimitDirty = 1;
    private bool _oomBaseline;
    private bool _atMemoryLimit;
    private long _oomCount;
    private GuestCpuLimit? _cpuLimit;
    private int _threadId;
    private long _cpuAtStart;
    private long _cpuTotal;

    /// <summary>
    /// Raised on the guest's thread when the guest is seen with its linear memory within one 64 KiB page of its limit, so
    /// that no further <c>memory.grow</c> can succeed (see <see cref="OomCount"/> for exactly what is detected). Handlers
    /// must be quick and must not throw (a throw is logged and ignored); an actor should only Tell itself.
    /// </summary>
    public event Action<GuestOom>? OomOccurred;

    /// <summary>Whether <see cref="Pause"/> is in effect (until <see cref="Resume"/>); safe from any thread.</summary>
    public bool IsPaused => _context.PauseRequested;

    /// <summary>The memory limit in force or about to be (see <see cref="UpdateMemoryLimit"/>); null when unlimited.</summary>
    public long? MemoryLimitBytes => Volatile.Read(ref _memoryLimit) is var limit && limit == NoLimit ? null : limit;

    /// <summary>The CPU quota in force; null when unlimited.</summary>
    public GuestCpuLimit? CpuLimit => Volatile.Read(ref _cpuLimit);

    /// <summary>
    /// How often the guest reached its memory limit. Wasmtime's .NET API has no resource-limiter callback, so a refused
    /// <c>memory.grow</c> cannot be seen as such; what is counted is each time the guest's memory, sampled at every epoch
    /// tick while it runs wasm code and when it ends, is newly within one page of the limit (no page can be added any
    /// more). The sample taken at instantiation only sets the baseline; raising the limit above the memory re-arms it.
    /// Not detected: a large grow refused while more than a page is still free (the memory stays below the limit).
    /// </summary>
    public long OomCount => Interlocked.Read(ref _oomCount);

    /// <summary>The kernel thread id running the guest while <see cref="Run"/> is going; 0 before and after.</summary>
    public int ThreadId => Volatile.Read(ref _threadId);

    /// <summary>CPU time in ns the guest's thread used inside <see cref="Run"/> (ns precision); safe from any thread.</summary>
    public long CpuTimeNs
    {
        get
        {
            var tid = Volatile.Read(ref _threadId);
            if (tid != 0)
            {
                try
                {
                    return ThreadClock.CpuTimeNs(tid) - Interlocked.Read(ref _cpuAtStart);
                }
                catch (ArgumentException)
                {
                    // The run just ended; its total is recorded below.
                }
            }
            return Interlocked.Read(ref _cpuTotal);
        }
    }

    /// <summary>
    /// Stops the guest from executing until <see cref="Resume"/>: a spinning guest blocks (no CPU) at its next epoch check,
    /// within a tick; a sleeping one stays asleep past its wake-up time; one paused before Run starts no code. Kill still
    /// ends it at once. Thread-safe and idempotent.
    /// </summary>
    public void Pause()
    {
        _context.SetPaused(true);
        _engine.Nudge();
    }

    /// <summary>Lets a paused guest continue where it stopped. Thread-safe and idempotent.</summary>
    public void Resume() => _context.SetPaused(false);

    /// <summary>
    /// Changes the memory limit (null: unlimited). Applied on the guest's thread at its next epoch check (within a tick
    /// while it runs wasm code, at once before it starts); a guest blocked in a host call gets it when it returns to wasm
    /// code. Memory never shrinks: a limit below the current size only refuses further growth. Thread-safe.
    /// </summary>
    public void UpdateMemoryLimit(long? bytes)
    {
        if (bytes is < 0)
            throw new ArgumentOutOfRangeException(nameof(bytes), bytes, "the memory limit must not be negative");
        Volatile.Write(ref _memoryLimit, bytes ?? NoLimit);
        Interlocked.Exchange(ref _memoryLimitDirty, 1);
        _engine.Nudge();
    }

    /// <summary>Sets or changes the CPU quota (null: unlimited); a parked guest re-reads it at once. Thread-safe.</summary>
    public void UpdateCpu(GuestCpuLimit? limit)
    {
        limit?.Validate();
        Volatile.Write(ref _cpuLimit, limit);
        _context.Wake();
    }

    private void EnterRun()
    {
        Interlocked.Exchange(ref _cpuAtStart, ThreadClock.CurrentThreadCpuTimeNs());
        Volatile.Write(ref _threadId, Self.GetThreadId());
    }

    private void LeaveRun()
    {
        Interlocked.Exchange(ref _cpuTotal, ThreadClock.CurrentThreadCpuTimeNs() - Interlocked.Read(ref _cpuAtStart));
        Volatile.Write(ref _threadId, 0);
    }

    // Before _start: outside wasm code nothing may throw, so a kill only ends the wait (Run then skips the start).
    private void PrepareToStart(Store store)
    {
        ApplyMemoryLimit(store);
        _context.WaitWhilePaused();
    }

    // On the guest thread inside the epoch callback: new limits, pause, then the CPU quota, until the guest may run on.
    private void Regulate(Store store)
    {
        while (true)
        {
            ApplyMemoryLimit(store);
            _context.WaitWhilePaused();
            _context.ThrowIfKilled();
            var limit = Volatile.Read(ref _cpuLimit);
            var parkUntil = limit is { Throttles: true }
                ? _throttle.Charge(limit, Stopwatch.GetTimestamp(), ThreadClock.CurrentThreadCpuTimeNs())
                : _throttle.Charge(null, 0, 0);
            if (parkUntil == 0)
                return;
            _context.ParkUntil(parkUntil);
            _context.ThrowIfKilled();
        }
    }

    private void ApplyMemoryLimit(Store store)
    {
        if (Interlocked.Exchange(ref _memoryLimitDirty, 0) == 0)
            return;
        var limit = Volatile.Read(ref _memoryLimit);
        store.SetLimits(memorySize: limit == NoLimit ? null : limit);
        CheckMemoryLimit();
    }

    private void CheckMemoryLimit()
    {
        var limit = Volatile.Read(ref _memoryLimit);
        var bytes = Interlocked.Read(ref _memoryBytes);
        if (limit == NoLimit || bytes + WasmPageBytes <= limit)
        {
            _atMemoryLimit = false;
            return;
        }
        if (_atMemoryLimit)
            return;
        _atMemoryLimit = true;
        if (!_oomBaseline)
            return;
        var oom = new GuestOom(bytes, limit, Interlocked.Increment(ref _oomCount));
        _log.Debug("{Module} reached its memory limit: {Bytes} of {Limit} bytes", Module.Path, bytes, limit);
        try
        {
            OomOccurred?.Invoke(oom);
        }
        catch (Exception e)
        {
            _log.Warning(e, "{Module}: an OomOccurred handler failed", Module.Path);
        }
    }
}
