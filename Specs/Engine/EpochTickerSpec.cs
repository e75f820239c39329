using WasmKata.Engine;
using Xunit;

namespace WasmKata.Specs.Engine;

/// <summary>The epoch ticker runs only while a guest may be executing wasm code: nothing wakes while guests sleep.</summary>
public sealed class EpochTickerSpec : IClassFixture<EngineFixture>
{
    private static readonly TimeSpan MarkerTimeout = TimeSpan.FromSeconds(10);

    private readonly EngineFixture _fx;

    public EpochTickerSpec(EngineFixture fx) => _fx = fx;

    private WasmEngine Engine => _fx.Engine;

    [Fact]
    public void The_epoch_must_not_advance_while_the_only_guest_sleeps_in_poll_oneoff()
    {
        var stdout = new CapturedOutput();
        var guest = _fx.Guest("sleep", GuestWat.Sleep, EngineFixture.Config(_fx.NewRootfs(), "0", "3600000"), stdout);
        var run = GuestRunner.Start(guest);
        Assert.True(stdout.WaitFor("sleeping", MarkerTimeout));

        Assert.True(WaitUntilStopped(), "the ticker still runs while the guest sleeps");
        var before = Engine.TimerTicks;
        Thread.Sleep(300);
        Assert.Equal(before, Engine.TimerTicks);
        Assert.False(Engine.TickerRunning);
        Assert.Equal(0, Engine.ExecutingGuests);

        guest.Kill(9);
        Assert.Equal(new GuestExit(137, null, true), run.Join());
    }

    [Fact]
    public void The_epoch_must_advance_while_a_guest_spins_and_stop_once_it_is_killed()
    {
        var stdout = new CapturedOutput();
        var guest = _fx.Guest("spin", GuestWat.Spin, EngineFixture.Config(_fx.NewRootfs()), stdout);
        var run = GuestRunner.Start(guest);
        Assert.True(stdout.WaitFor("spinning", MarkerTimeout));

        var before = Engine.TimerTicks;
        Thread.Sleep(300);
        Assert.True(Engine.TimerTicks - before >= 5, $"only {Engine.TimerTicks - before} ticks in 300 ms of spinning");
        Assert.True(Engine.TickerRunning);

        guest.Kill(9);
        Assert.Equal(new GuestExit(137, null, true), run.Join());
        Assert.True(WaitUntilStopped(), "the ticker still runs after the guest was killed");
        var after = Engine.TimerTicks;
        Thread.Sleep(200);
        Assert.Equal(after, Engine.TimerTicks);
    }

    [Fact]
    public void A_paused_guest_must_let_the_ticker_stop_and_get_ticks_again_once_resumed()
    {
        var stdout = new CapturedOutput();
        var guest = _fx.Guest("spin", GuestWat.Spin, EngineFixture.Config(_fx.NewRootfs()), stdout);
        var run = GuestRunner.Start(guest);
        Assert.True(stdout.WaitFor("spinning", MarkerTimeout));

        guest.Pause();
        Assert.True(WaitUntilStopped(), "the ticker still runs while the only guest is paused");
        var paused = Engine.TimerTicks;
        Thread.Sleep(200);
        Assert.Equal(paused, Engine.TimerTicks);

        guest.Resume();
        Thread.Sleep(300);
        Assert.True(Engine.TimerTicks - paused >= 5, $"only {Engine.TimerTicks - paused} ticks in 300 ms after Resume");

        guest.Kill(9);
        Assert.Equal(new GuestExit(137, null, true), run.Join());
        Assert.True(WaitUntilStopped(), "the ticker still runs after the guest was killed");
    }

    // Specs of this class run one at a time with their own engine: the ticker stops a tick after the last guest left.
    private bool WaitUntilStopped()
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(2);
        while (Engine.TickerRunning || Engine.ExecutingGuests != 0)
        {
            if (DateTime.UtcNow > deadline)
                return false;
            Thread.Sleep(5);
        }
        return true;
    }
}
