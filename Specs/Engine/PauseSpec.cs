using System.Diagnostics;
using WasmKata.Engine;
using WasmKata.Linux;
using Xunit;

namespace WasmKata.Specs.Engine;

/// <summary>Pause and resume of a guest: blocked in its epoch callback (or its sleep), never spinning.</summary>
[Collection(EngineTimingCollection.Name)]
public sealed class PauseSpec : IClassFixture<EngineFixture>
{
    private static readonly TimeSpan MarkerTimeout = TimeSpan.FromSeconds(10);
    private const long KillBudgetMs = 100;
    private const long MsNs = 1_000_000;

    private readonly EngineFixture _fx;

    public PauseSpec(EngineFixture fx) => _fx = fx;

    [Fact]
    public async Task Paused_spinning_guest_must_burn_no_cpu()
    {
        var stdout = new CapturedOutput();
        var guest = _fx.Guest("spin", GuestWat.Spin, EngineFixture.Config(_fx.NewRootfs()), stdout);
        var run = GuestRunner.Start(guest);
        Assert.True(stdout.WaitFor("spinning", MarkerTimeout));
        var tid = await GuestTid(guest);

        var spinning = (await ThreadTimes.Over(TimeSpan.FromMilliseconds(300), tid))[0];
        guest.Pause();
        Assert.True(guest.IsPaused);
        // Let the pause land (one epoch tick) before measuring.
        await Task.Delay(50);
        var pausedFrom = Self.ThreadCpuTimeNs(tid);
        var paused = (await ThreadTimes.Over(TimeSpan.FromMilliseconds(500), tid))[0];
        var pausedCpu = Self.ThreadCpuTimeNs(tid) - pausedFrom;
        guest.Resume();
        Assert.False(guest.IsPaused);
        var resumed = (await ThreadTimes.Over(TimeSpan.FromMilliseconds(300), tid))[0];
        guest.Kill(9);

        Assert.Equal(137, run.Join().Status);
        // Spinning, the guest runs or is ready to whenever looked at; paused, it neither runs nor is ready to.
        Assert.True(spinning.Runnable >= 0.95, $"spinning: {spinning}");
        Assert.True(paused.Runnable <= 0.02, $"paused: {paused}");
        Assert.InRange(paused.Run, 0, 0.002);
        Assert.InRange(pausedCpu, 0, 10 * MsNs);
        Assert.True(resumed.Runnable >= 0.95, $"resumed: {resumed}");
    }

    [Fact]
    public async Task Resume_must_continue_the_guest_where_it_stopped()
    {
        var stdout = new CapturedOutput();
        var guest = _fx.Guest("count", CountWat, EngineFixture.Config(_fx.NewRootfs(), "400"), stdout);
        var run = GuestRunner.Start(guest);
        Assert.True(stdout.WaitFor("counting", MarkerTimeout));
        guest.Pause();
        await Task.Delay(50);
        var before = guest.CpuTimeNs;
        await Task.Delay(300);

        Assert.Equal("counting\n", stdout.Text);
        Assert.InRange(guest.CpuTimeNs - before, 0, 2 * MsNs);
        guest.Resume();
        var exit = run.Join();
        Assert.Equal(new GuestExit(0, null, false), exit);
        Assert.Equal("counting\ncounted\n", stdout.Text);
    }

    [Fact]
    public void Kill_must_end_a_paused_spinning_guest_within_100_ms()
    {
        var stdout = new CapturedOutput();
        var guest = _fx.Guest("spin", GuestWat.Spin, EngineFixture.Config(_fx.NewRootfs()), stdout);
        var run = GuestRunner.Start(guest);
        Assert.True(stdout.WaitFor("spinning", MarkerTimeout));
        guest.Pause();
        Assert.True(SpinWait.SpinUntil(() => IsBlocked(guest.ThreadId), MarkerTimeout));

        var clock = Stopwatch.StartNew();
        guest.Kill(9);
        var exit = run.Join();
        clock.Stop();
        Assert.Equal(new GuestExit(137, null, true), exit);
        Assert.InRange(clock.ElapsedMilliseconds, 0, KillBudgetMs);
    }

    [Fact]
    public async Task Paused_sleeping_guest_must_stay_asleep_until_resumed()
    {
        var stdout = new CapturedOutput();
        var guest = _fx.Guest("sleep", GuestWat.Sleep, EngineFixture.Config(_fx.NewRootfs(), "0", "100"), stdout);
        var run = GuestRunner.Start(guest);
        Assert.True(stdout.WaitFor("sleeping", MarkerTimeout));
        guest.Pause();

        // Its 100 ms sleep ends while it is paused; it must not return to its code (which would exit 10).
        Assert.True(await StillRunningAfter(run, TimeSpan.FromMilliseconds(400)));
        var clock = Stopwatch.StartNew();
        guest.Resume();
        var exit = run.Join();
        Assert.Equal(new GuestExit(10, null, false), exit);
        Assert.InRange(clock.ElapsedMilliseconds, 0, 500);
    }

    [Fact]
    public async Task Kill_must_end_a_paused_sleeping_guest_within_100_ms()
    {
        var stdout = new CapturedOutput();
        var guest = _fx.Guest("sleep", GuestWat.Sleep, EngineFixture.Config(_fx.NewRootfs(), "0", "50"), stdout);
        var run = GuestRunner.Start(guest);
        Assert.True(stdout.WaitFor("sleeping", MarkerTimeout));
        guest.Pause();
        // Past its 50 ms sleep: now only the pause holds it.
        Assert.True(await StillRunningAfter(run, TimeSpan.FromMilliseconds(150)));

        var clock = Stopwatch.StartNew();
        guest.Kill(15);
        var exit = run.Join();
        Assert.Equal(new GuestExit(143, null, true), exit);
        Assert.InRange(clock.ElapsedMilliseconds, 0, KillBudgetMs);
    }

    [Fact]
    public async Task Guest_paused_before_it_runs_must_run_no_code_until_resumed()
    {
        var stdout = new CapturedOutput();
        var guest = _fx.Guest("hello", GuestWat.Hello, EngineFixture.Config(_fx.NewRootfs()), stdout);
        guest.Pause();
        var run = GuestRunner.Start(guest);

        Assert.True(await StillRunningAfter(run, TimeSpan.FromMilliseconds(200)));
        Assert.Equal("", stdout.Text);
        guest.Resume();
        Assert.Equal(new GuestExit(0, null, false), run.Join());
        Assert.Equal("hello, world\n", stdout.Text);
    }

    [Fact]
    public async Task Kill_of_a_guest_paused_before_it_runs_must_report_the_signal_and_run_nothing()
    {
        var stdout = new CapturedOutput();
        var guest = _fx.Guest("hello", GuestWat.Hello, EngineFixture.Config(_fx.NewRootfs()), stdout);
        guest.Pause();
        var run = GuestRunner.Start(guest);
        Assert.True(await StillRunningAfter(run, TimeSpan.FromMilliseconds(100)));

        guest.Kill(9);
        Assert.Equal(new GuestExit(137, null, true), run.Join(TimeSpan.FromSeconds(1)));
        Assert.Equal("", stdout.Text);
    }

    /// <summary>Prints "counting\n", counts down from argv[1] million, prints "counted\n" and returns.</summary>
    internal const string CountWat = """
        (module
          (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
          (memory (export "memory") 2)
          (data (i32.const 1024) "counting\n")
          (data (i32.const 1040) "counted\n")
          (func $print (param $ptr i32) (param $len i32)
            (i32.store (i32.const 0) (local.get $ptr))
            (i32.store (i32.const 4) (local.get $len))
            (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
          (func $arg1 (result i64)
            (local $p i32) (local $c i32) (local $v i64)
            (drop (call $args_get (i32.const 65536) (i32.const 66560)))
            (local.set $p (i32.load (i32.const 65540)))
            (block $done
              (loop $l
                (local.set $c (i32.sub (i32.load8_u (local.get $p)) (i32.const 48)))
                (br_if $done (i32.gt_u (local.get $c) (i32.const 9)))
                (local.set $v (i64.add (i64.mul (local.get $v) (i64.const 10)) (i64.extend_i32_u (local.get $c))))
                (local.set $p (i32.add (local.get $p) (i32.const 1)))
                (br $l)))
            (local.get $v))
          (func (export "_start")
            (local $n i64)
            (local.set $n (i64.mul (call $arg1) (i64.const 1000000)))
            (call $print (i32.const 1024) (i32.const 9))
            (block $done
              (loop $l
                (br_if $done (i64.eqz (local.get $n)))
                (local.set $n (i64.sub (local.get $n) (i64.const 1)))
                (br $l)))
            (call $print (i32.const 1040) (i32.const 8))))
        """;

    internal static async Task<int> GuestTid(Guest guest)
    {
        var clock = Stopwatch.StartNew();
        while (guest.ThreadId == 0)
        {
            if (clock.Elapsed > MarkerTimeout)
                throw new TimeoutException("the guest never started running");
            await Task.Delay(5);
        }
        return guest.ThreadId;
    }

    private static async Task<bool> StillRunningAfter(GuestRunner run, TimeSpan period)
    {
        await Task.Delay(period);
        try
        {
            run.Join(TimeSpan.Zero);
            return false;
        }
        catch (TimeoutException)
        {
            return true;
        }
    }

    /// <summary>Whether the thread sleeps in the kernel (state S), as a guest blocked on its pause is.</summary>
    private static bool IsBlocked(int tid) => tid != 0 && ThreadTimes.State(tid) == 'S';
}
