using System.Collections.Concurrent;
using System.Diagnostics;
using Akka.Actor;
using Akka.Dispatch;
using Akka.Event;

namespace WasmKata.Actors;

/// <summary>
/// Akka's scheduler without a tick. Akka's hashed wheel, once anything was ever scheduled, wakes every tick-duration
/// for good, due work or not: a timer-thread and a pool-thread wake-up each time, in every daemon on the host. Here
/// each scheduled item is a <see cref="Timer"/> of its own that fires when due, so a daemon whose actors have nothing
/// due wakes no thread at all. A daemon schedules a handful of items at a time (grace periods, retries, leases), not
/// the thousands a wheel is made for. Named in HOCON by <see cref="Hocon"/>.
/// </summary>
public sealed class TimerScheduler(Akka.Configuration.Config config, ILoggingAdapter log) : SchedulerBase(config, log), IDateTimeOffsetNowTimeProvider, IDisposable
{
    private static readonly Stopwatch s_clock = Stopwatch.StartNew();
    private readonly ConcurrentDictionary<Scheduled, byte> _pending = new();

    /// <summary>The HOCON that makes an actor system use this scheduler.</summary>
    public static string Hocon { get; } =
        $"akka.scheduler.implementation = \"{typeof(TimerScheduler).FullName}, {typeof(TimerScheduler).Assembly.GetName().Name}\"";

    /// <summary>Items scheduled and neither done nor cancelled.</summary>
    public int Pending => _pending.Count;

    /// <inheritdoc/>
    public override TimeSpan MonotonicClock => s_clock.Elapsed;

    /// <inheritdoc/>
    public override TimeSpan HighResMonotonicClock => s_clock.Elapsed;

    /// <inheritdoc/>
    protected override DateTimeOffset TimeNow => DateTimeOffset.Now;

    /// <summary>Stops every pending item (the actor system is terminating).</summary>
    public void Dispose()
    {
        foreach (var item in _pending.Keys)
            item.Stop();
    }

    /// <inheritdoc/>
    protected override void InternalScheduleTellOnce(TimeSpan delay, ICanTell receiver, object message, IActorRef sender, ICancelable cancelable) =>
        Start(delay, Timeout.InfiniteTimeSpan, () => receiver.Tell(message, sender), cancelable);

    /// <inheritdoc/>
    protected override void InternalScheduleTellRepeatedly(TimeSpan initialDelay, TimeSpan interval, ICanTell receiver, object message, IActorRef sender, ICancelable cancelable) =>
        Start(initialDelay, interval, () => receiver.Tell(message, sender), cancelable);

    /// <inheritdoc/>
    protected override void InternalScheduleOnce(TimeSpan delay, Action action, ICancelable cancelable) =>
        Start(delay, Timeout.InfiniteTimeSpan, action, cancelable);

    /// <inheritdoc/>
    protected override void InternalScheduleOnce(TimeSpan delay, IRunnable action, ICancelable cancelable) =>
        Start(delay, Timeout.InfiniteTimeSpan, action.Run, cancelable);

    /// <inheritdoc/>
    protected override void InternalScheduleRepeatedly(TimeSpan initialDelay, TimeSpan interval, Action action, ICancelable cancelable) =>
        Start(initialDelay, interval, action, cancelable);

    /// <inheritdoc/>
    protected override void InternalScheduleRepeatedly(TimeSpan initialDelay, TimeSpan interval, IRunnable action, ICancelable cancelable) =>
        Start(initialDelay, interval, action.Run, cancelable);

    private void Start(TimeSpan delay, TimeSpan interval, Action action, ICancelable? cancelable)
    {
        if (cancelable?.IsCancellationRequested == true)
            return;
        var item = new Scheduled(this, action, cancelable, repeats: interval != Timeout.InfiniteTimeSpan);
        _pending[item] = 0;
        item.Arm(delay < TimeSpan.Zero ? TimeSpan.Zero : delay, interval);
    }

    /// <summary>One scheduled item: its timer, and the cancellation that stops it before it is due.</summary>
    private sealed class Scheduled(TimerScheduler owner, Action action, ICancelable? cancelable, bool repeats)
    {
        private readonly Lock _lock = new();
        private Timer? _timer;
        private CancellationTokenRegistration _registration;
        private bool _stopped;

        public void Arm(TimeSpan delay, TimeSpan interval)
        {
            lock (_lock)
            {
                _timer = new Timer(static state => ((Scheduled)state!).Fire(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
                if (cancelable is not null)
                    _registration = cancelable.Token.UnsafeRegister(static state => ((Scheduled)state!).Stop(), this);
                if (!_stopped)
                    _timer.Change(delay, interval);
            }
        }

        public void Stop()
        {
            lock (_lock)
            {
                if (_stopped)
                    return;
                _stopped = true;
                _timer?.Dispose();
            }
            _registration.Dispose();
            owner._pending.TryRemove(this, out _);
        }

        private void Fire()
        {
            if (cancelable?.IsCancellationRequested == true)
            {
                Stop();
                return;
            }
            if (!repeats)
                Stop();
            try
            {
                action();
            }
            catch (Exception e)
            {
                owner.Log.Error(e, "a scheduled action failed");
            }
        }
    }
}
