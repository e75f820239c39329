using System.Diagnostics;

using WasmKata.Core.Plan;

namespace WasmKata.Engine;

/// <summary>Enforces a <see cref="GuestCpuLimit"/> from the guest's epoch callback: the bandwidth control of cfs, per guest.</summary>
/// <remarks>
/// Why epoch deadlines and not fuel: the epoch callback already runs on the guest's own thread at every tick (for kill
/// and pause), so the throttle costs one clock read per tick and no extra code in the guest; fuel would instrument every
/// basic block of every guest (slower for all, limited or not) and counts instructions, not time, so a quota in
/// microseconds would need a per-module calibration. The figure charged is the guest thread's CPU time
/// (CLOCK_THREAD_CPUTIME_ID), so time the OS gave to other threads is not counted against the guest.
/// A window of one period opens at the first check; once the CPU used in it reaches the budget the guest is parked until
/// the window ends. Checks come once per epoch tick, so a guest overshoots by up to a tick; the overshoot is carried into
/// the next window as debt (at most one quota), which keeps the long-run share at quota / period.
/// Used on the guest thread only; not thread-safe.
/// </remarks>
internal sealed class CpuThrottle
{
    private GuestCpuLimit? _limit;
    private long _windowStart;
    private long _windowCpuStart;
    private long _budgetNs;

    /// <summary>
    /// Charges the CPU time used so far; returns 0 when the guest may run on, else the Stopwatch timestamp until which it
    /// must be parked. <paramref name="now"/> is a Stopwatch timestamp, <paramref name="cpuNs"/> the thread's CPU time.
    /// </summary>
    public long Charge(GuestCpuLimit? limit, long now, long cpuNs)
    {
        if (limit is null || !limit.Throttles)
        {
            _limit = null;
            _windowStart = 0;
            return 0;
        }

        var quotaNs = limit.QuotaUs * 1000;
        var period = limit.PeriodUs * Stopwatch.Frequency / 1_000_000;
        if (!ReferenceEquals(limit, _limit) || _windowStart == 0)
        {
            // A new or changed limit starts clean: no debt carried across a change.
            _limit = limit;
            Open(now, cpuNs, quotaNs);
            return 0;
        }

        var used = cpuNs - _windowCpuStart;
        if (now - _windowStart >= period)
        {
            var overdraft = Math.Clamp(used - _budgetNs, 0, quotaNs);
            Open(now, cpuNs, quotaNs - overdraft);
            return _budgetNs > 0 ? 0 : _windowStart + period;
        }

        return used >= _budgetNs ? _windowStart + period : 0;
    }

    private void Open(long now, long cpuNs, long budgetNs)
    {
        _windowStart = now;
        _windowCpuStart = cpuNs;
        _budgetNs = budgetNs;
    }
}
