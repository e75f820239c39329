using Akka.Actor;
using Akka.TestKit.Xunit2;
using WasmKata.Actors;
using Xunit;

namespace WasmKata.Specs.Actors;

/// <summary>The tickless scheduler the daemon's actor system runs on: on time, cancellable, and nothing left behind.</summary>
public sealed class TimerSchedulerSpec() : TestKit(TimerScheduler.Hocon)
{
    private TimerScheduler Scheduler => Assert.IsType<TimerScheduler>(Sys.Scheduler);

    [Fact]
    public async Task A_message_scheduled_once_must_arrive_when_due_and_leave_nothing_pending()
    {
        Sys.Scheduler.ScheduleTellOnce(TimeSpan.FromMilliseconds(300), TestActor, "due", ActorRefs.NoSender);
        Assert.Equal(1, Scheduler.Pending);
        await ExpectNoMsgAsync(TimeSpan.FromMilliseconds(150));
        Assert.Equal("due", await ExpectMsgAsync<string>(TimeSpan.FromSeconds(3)));
        await AwaitConditionAsync(() => Task.FromResult(Scheduler.Pending == 0), TimeSpan.FromSeconds(1));
    }

    [Fact]
    public async Task A_cancelled_item_must_never_fire_and_must_stop_its_timer()
    {
        var cancelable = Sys.Scheduler.ScheduleTellOnceCancelable(TimeSpan.FromMilliseconds(200), TestActor, "late", ActorRefs.NoSender);
        cancelable.Cancel();
        Assert.Equal(0, Scheduler.Pending);
        await ExpectNoMsgAsync(TimeSpan.FromMilliseconds(500));
    }

    [Fact]
    public async Task A_repeated_item_must_fire_until_cancelled()
    {
        var cancelable = Sys.Scheduler.ScheduleTellRepeatedlyCancelable(
            TimeSpan.FromMilliseconds(20), TimeSpan.FromMilliseconds(50), TestActor, "tick", ActorRefs.NoSender);
        for (var i = 0; i < 3; i++)
            Assert.Equal("tick", await ExpectMsgAsync<string>(TimeSpan.FromSeconds(3)));
        cancelable.Cancel();
        Assert.Equal(0, Scheduler.Pending);
        // A tick already on its way may still land; after that, nothing.
        await Task.Delay(100);
        while (HasMessages)
            await ExpectMsgAsync<string>();
        await ExpectNoMsgAsync(TimeSpan.FromMilliseconds(300));
    }

    [Fact]
    public async Task An_action_that_throws_must_not_stop_later_items()
    {
        Sys.Scheduler.Advanced.ScheduleOnce(TimeSpan.FromMilliseconds(10), () => throw new InvalidOperationException("boom"));
        Sys.Scheduler.Advanced.ScheduleOnce(TimeSpan.FromMilliseconds(50), () => TestActor.Tell("after"));
        Assert.Equal("after", await ExpectMsgAsync<string>(TimeSpan.FromSeconds(3)));
    }

    [Fact]
    public async Task Actor_timers_must_run_on_it()
    {
        Sys.ActorOf(Props.Create(() => new SingleTimer(TestActor)));
        Assert.Equal("timer", await ExpectMsgAsync<string>(TimeSpan.FromSeconds(3)));
        await AwaitConditionAsync(() => Task.FromResult(Scheduler.Pending == 0), TimeSpan.FromSeconds(1));
    }

    private sealed class SingleTimer : ReceiveActor, IWithTimers
    {
        public SingleTimer(IActorRef probe)
        {
            Receive<string>(message => probe.Tell(message));
        }

        public ITimerScheduler Timers { get; set; } = null!;

        protected override void PreStart() => Timers.StartSingleTimer("once", "timer", TimeSpan.FromMilliseconds(50));
    }
}
