using Akka.Actor;
using Akka.Event;
using static WasmKata.Actors.Events.EventPublisherProtocol;

namespace WasmKata.Actors.Events;

/// <summary>
/// Publishes events one at a time, in order: a failed delivery is retried (after 1 s, 2 s, ...) before the next
/// event goes, so containerd never sees an exit before its start. The queue is bounded; the oldest is dropped.
/// </summary>
internal sealed class EventPublisherActor : ReceiveActor, IWithTimers
{
    private readonly IEventSink _sink;
    private readonly int _maxAttempts;
    private readonly int _maxQueued;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Queue<object> _queue = new();
    private readonly CancellationTokenSource _stop = new();
    private bool _inFlight;
    private int _attempts;

    public EventPublisherActor(IEventSink sink, int maxAttempts, int maxQueued)
    {
        _sink = sink;
        _maxAttempts = maxAttempts;
        _maxQueued = maxQueued;
        Receive<ShimEvent>(Enqueue);
        Receive<Flush>(_ => Enqueue(new FlushMarker(Sender)));
        Receive<Delivered>(_ =>
        {
            _queue.Dequeue();
            _attempts = 0;
            _inFlight = false;
            Next();
        });
        Receive<DeliveryFailed>(OnFailed);
        Receive<Retry>(_ =>
        {
            _inFlight = false;
            Next();
        });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    protected override void PostStop()
    {
        _stop.Cancel();
        _stop.Dispose();
    }

    private void Enqueue(object item)
    {
        if (item is ShimEvent shimEvent) Context.System.EventStream.Publish(shimEvent); // for `wasmkata events`
        if (_queue.Count >= _maxQueued && !_inFlight)
            _log.Error("event queue full: dropping {Event}", _queue.Dequeue());
        _queue.Enqueue(item);
        Next();
    }

    private void Next()
    {
        while (!_inFlight && _queue.TryPeek(out var head))
        {
            if (head is FlushMarker marker)
            {
                _queue.Dequeue();
                marker.ReplyTo.Tell(Flushed.Instance);
                continue;
            }
            _inFlight = true;
            _attempts++;
            _sink.PublishAsync((ShimEvent)head, _stop.Token).PipeTo(Self,
                success: () => Delivered.Instance,
                failure: e => new DeliveryFailed(e));
        }
    }

    private void OnFailed(DeliveryFailed failed)
    {
        var head = _queue.Peek();
        if (_attempts >= _maxAttempts)
        {
            _log.Error("giving up on event {Event} after {Attempts} attempts: {Error}", head, _attempts, failed.Cause.Message);
            _queue.Dequeue();
            _attempts = 0;
            _inFlight = false;
            Next();
            return;
        }
        _log.Warning("publishing {Event} failed (attempt {Attempt}): {Error}", head, _attempts, failed.Cause.Message);
        Timers.StartSingleTimer("retry", Retry.Instance, TimeSpan.FromSeconds(_attempts));
    }

    private sealed record FlushMarker(IActorRef ReplyTo);

    private sealed record Delivered
    {
        public static readonly Delivered Instance = new();
    }

    private sealed record DeliveryFailed(Exception Cause);

    private sealed record Retry
    {
        public static readonly Retry Instance = new();
    }
}
