using System.Collections.Concurrent;
using Akka.Actor;
using Akka.TestKit.Xunit2;
using WasmKata.Actors.Events;
using Xunit;

namespace WasmKata.Specs.Actors;

public class EventPublisherSpec : TestKit
{
    /// <summary>Records deliveries; fails the first <c>failures</c> attempts of each event.</summary>
    private sealed class RecordingSink(int failures, TimeSpan delay) : IEventSink
    {
        private readonly ConcurrentDictionary<ShimEvent, int> _attempts = new();
        public ConcurrentQueue<ShimEvent> Delivered { get; } = new();

        public async Task PublishAsync(ShimEvent shimEvent, CancellationToken cancellationToken)
        {
            await Task.Delay(delay, cancellationToken);
            if (_attempts.AddOrUpdate(shimEvent, 1, (_, n) => n + 1) <= failures)
                throw new IOException("containerd is away");
            Delivered.Enqueue(shimEvent);
        }
    }

    [Fact]
    public async Task Events_must_be_delivered_in_the_order_told()
    {
        var sink = new RecordingSink(0, TimeSpan.FromMilliseconds(1));
        var publisher = Sys.ActorOf(EventPublisherProtocol.Props(sink));
        var events = Enumerable.Range(0, 50).Select(i => (ShimEvent)new TaskStarted($"c{i}", (uint)i)).ToList();
        foreach (var e in events)
            publisher.Tell(e);
        publisher.Tell(EventPublisherProtocol.Flush.Instance);
        await ExpectMsgAsync<EventPublisherProtocol.Flushed>(TimeSpan.FromSeconds(5));
        Assert.Equal(events, sink.Delivered);
    }

    [Fact]
    public async Task A_failed_delivery_must_be_retried_before_the_next_event_goes()
    {
        var sink = new RecordingSink(1, TimeSpan.Zero);
        var publisher = Sys.ActorOf(EventPublisherProtocol.Props(sink));
        var start = new TaskStarted("c", 1);
        var exit = new TaskExited("c", "c", 1, 0, DateTimeOffset.UtcNow);
        publisher.Tell(start);
        publisher.Tell(exit);
        publisher.Tell(EventPublisherProtocol.Flush.Instance);
        await ExpectMsgAsync<EventPublisherProtocol.Flushed>(TimeSpan.FromSeconds(10));
        Assert.Equal(new ShimEvent[] { start, exit }, sink.Delivered);
    }

    [Fact]
    public async Task An_event_must_be_given_up_after_its_attempts_and_the_rest_still_flow()
    {
        var sink = new RecordingSink(int.MaxValue, TimeSpan.Zero);
        var publisher = Sys.ActorOf(EventPublisherProtocol.Props(sink, maxAttempts: 1));
        publisher.Tell(new TaskStarted("c", 1));
        publisher.Tell(EventPublisherProtocol.Flush.Instance);
        await ExpectMsgAsync<EventPublisherProtocol.Flushed>(TimeSpan.FromSeconds(5));
        Assert.Empty(sink.Delivered);
    }
}
