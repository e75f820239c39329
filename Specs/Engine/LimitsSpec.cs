using System.Collections.Concurrent;
using System.Diagnostics;
using WasmKata.Core.Plan;
using WasmKata.Engine;
using Xunit;

namespace WasmKata.Specs.Engine;

/// <summary>Limits the engine enforces per guest: memory (changeable while running, with OOM detection) and CPU quota.</summary>
[Collection(EngineTimingCollection.Name)]
public sealed class LimitsSpec : IClassFixture<EngineFixture>
{
    private static readonly TimeSpan MarkerTimeout = TimeSpan.FromSeconds(10);
    private const long MiB = 1 << 20;
    private const long MsNs = 1_000_000;

    private readonly EngineFixture _fx;

    public LimitsSpec(EngineFixture fx) => _fx = fx;

    [Fact]
    public async Task Raising_the_memory_limit_of_a_running_guest_must_let_it_grow_to_the_new_limit()
    {
        var stdout = new CapturedOutput();
        var guest = _fx.Guest("hungry", HungryWat, EngineFixture.Config(_fx.NewRootfs()) with { MemoryLimitBytes = 1 * MiB }, stdout);
        var ooms = new ConcurrentQueue<GuestOom>();
        guest.OomOccurred += ooms.Enqueue;
        var run = GuestRunner.Start(guest);
        Assert.True(stdout.WaitFor("growing", MarkerTimeout));

        await Until(() => guest.MemoryBytes == 1 * MiB && guest.OomCount == 1);
        guest.UpdateMemoryLimit(2 * MiB);
        Assert.Equal(2 * MiB, guest.MemoryLimitBytes);
        await Until(() => guest.MemoryBytes == 2 * MiB && guest.OomCount == 2);
        guest.Kill(9);

        Assert.Equal(137, run.Join().Status);
        Assert.Equal([new GuestOom(1 * MiB, 1 * MiB, 1), new GuestOom(2 * MiB, 2 * MiB, 2)], ooms.ToArray());
    }

    [Fact]
    public async Task Lowering_the_memory_limit_must_stop_further_growth_without_shrinking()
    {
        var stdout = new CapturedOutput();
        var guest = _fx.Guest("hungry", HungryWat, EngineFixture.Config(_fx.NewRootfs()) with { MemoryLimitBytes = 4 * MiB }, stdout);
        var run = GuestRunner.Start(guest);
        await Until(() => guest.MemoryBytes == 4 * MiB);
        guest.UpdateMemoryLimit(2 * MiB);
        guest.UpdateMemoryLimit(8 * MiB);
        await Until(() => guest.MemoryBytes == 8 * MiB);
        guest.UpdateMemoryLimit(1 * MiB);
        await Task.Delay(100);
        guest.Kill(9);

        Assert.Equal(137, run.Join().Status);
        Assert.Equal(8 * MiB, guest.MemoryBytes);
        Assert.Equal(1 * MiB, guest.MemoryLimitBytes);
    }

    [Fact]
    public void A_memory_limit_set_before_run_must_refuse_growth_and_removing_it_must_allow_it()
    {
        var limited = _fx.Guest("grow", GuestWat.Grow, EngineFixture.Config(_fx.NewRootfs(), "100"));
        limited.UpdateMemoryLimit(1 * MiB);
        Assert.Equal(42, GuestRunner.RunToEnd(limited).Status);

        var unlimited = _fx.Guest("grow", GuestWat.Grow, EngineFixture.Config(_fx.NewRootfs(), "100") with { MemoryLimitBytes = 1 * MiB });
        unlimited.UpdateMemoryLimit(null);
        Assert.Equal(0, GuestRunner.RunToEnd(unlimited).Status);
        Assert.Equal(GuestWat.InitialMemoryBytes + 100 * 65536, unlimited.MemoryBytes);
    }

    [Fact]
    public void A_guest_that_stays_below_its_limit_must_report_no_oom()
    {
        var guest = _fx.Guest("grow", GuestWat.Grow, EngineFixture.Config(_fx.NewRootfs(), "10") with { MemoryLimitBytes = 4 * MiB });
        var raised = 0;
        guest.OomOccurred += _ => raised++;
        Assert.Equal(0, GuestRunner.RunToEnd(guest).Status);
        Assert.Equal(0, guest.OomCount);
        Assert.Equal(0, raised);
    }

    [Fact]
    public void A_guest_that_grows_to_its_limit_in_one_step_must_report_one_oom_when_it_ends()
    {
        // 3 initial pages + 13 = 16 pages = the limit: the next page can never be had.
        var guest = _fx.Guest("grow", GuestWat.Grow, EngineFixture.Config(_fx.NewRootfs(), "13") with { MemoryLimitBytes = 1 * MiB });
        Assert.Equal(0, GuestRunner.RunToEnd(guest).Status);
        Assert.Equal(1, guest.OomCount);
    }

    [Fact]
    public async Task Spinning_guest_with_a_20_percent_quota_must_get_about_20_percent_while_an_unlimited_one_gets_a_whole_cpu()
    {
        var limited = Spinner(new GuestCpuLimit(20_000, 100_000));
        var free = Spinner(null);
        var limitedTid = await limited.Tid;
        var freeTid = await free.Tid;

        // Other load on the machine can starve the guests (time spent waiting for a CPU); a window judges the quota's
        // lower side only when the limited guest hardly waited, so that nothing but the quota held it back there.
        var windows = new List<ThreadTimes[]>();
        while (windows.Count < 10 && windows.Count(Judged) < 2)
            windows.Add(await ThreadTimes.Over(TimeSpan.FromSeconds(1), limitedTid, freeTid));
        limited.Guest.Kill(9);
        free.Guest.Kill(9);

        Assert.Equal(137, limited.Run.Join().Status);
        Assert.Equal(137, free.Run.Join().Status);
        Assert.All(windows, w =>
        {
            // The quota caps what the guest runs; load can only lower it.
            Assert.InRange(w[0].Run, 0, 0.26);
            // The unlimited guest never rests: whenever looked at, it runs or is ready to.
            Assert.True(w[1].Runnable >= 0.95, $"the unlimited guest rested: {w[1]}");
            Assert.InRange(w[1].Run, 0, 1.05);
        });
        Assert.All(windows.Where(Judged), w => Assert.InRange(w[0].Run, 0.15, 0.26));
        Assert.All(windows.Where(w => w[1].Waiting < 0.05), w => Assert.InRange(w[1].Run, 0.9, 1.05));

        static bool Judged(ThreadTimes[] w) => w[0].Waiting < 0.1;
    }

    [Fact]
    public async Task Cpu_quota_changes_must_take_effect_while_the_guest_runs()
    {
        var guest = Spinner(new GuestCpuLimit(50_000, 100_000));
        var tid = await guest.Tid;

        var half = await ThreadTimes.Over(TimeSpan.FromSeconds(1), tid);
        guest.Guest.UpdateCpu(new GuestCpuLimit(10_000, 50_000));
        await Task.Delay(100);
        var fifth = await ThreadTimes.Over(TimeSpan.FromSeconds(1), tid);
        guest.Guest.UpdateCpu(null);
        await Task.Delay(100);
        var whole = await ThreadTimes.Over(TimeSpan.FromMilliseconds(500), tid);
        guest.Guest.Kill(9);

        Assert.Equal(137, guest.Run.Join().Status);
        Assert.InRange(half[0].Run, 0, 0.56);
        Assert.InRange(fifth[0].Run, 0, 0.26);
        Assert.True(whole[0].Runnable >= 0.95, $"the guest rested after its quota was removed: {whole[0]}");
        // Lower bounds only where the guest hardly waited for a CPU (see above).
        if (half[0].Waiting < 0.1)
            Assert.InRange(half[0].Run, 0.42, 0.56);
        if (fifth[0].Waiting < 0.1)
            Assert.InRange(fifth[0].Run, 0.14, 0.26);
    }

    [Fact]
    public async Task Cpu_time_must_count_the_guest_threads_cpu_and_stay_after_the_run()
    {
        var stdout = new CapturedOutput();
        var guest = _fx.Guest("spin", GuestWat.Spin, EngineFixture.Config(_fx.NewRootfs()), stdout);
        Assert.Equal(0, guest.CpuTimeNs);
        var run = GuestRunner.Start(guest);
        Assert.True(stdout.WaitFor("spinning", MarkerTimeout));
        var tid = await PauseSpec.GuestTid(guest);
        await Until(() => guest.CpuTimeNs > 100 * MsNs);
        var during = guest.CpuTimeNs;
        var thread = WasmKata.Linux.Self.ThreadCpuTimeNs(tid);
        guest.Kill(9);
        run.Join();
        var after = guest.CpuTimeNs;

        // The guest thread did little but Run, so its total (10 ms ticks) and the guest's figure agree.
        Assert.InRange(thread - during, -20 * MsNs, 50 * MsNs);
        Assert.InRange(after, during, during + 200 * MsNs);
        Assert.Equal(0, guest.ThreadId);
    }

    [Fact]
    public void Throttle_must_park_a_guest_that_used_its_quota_until_the_period_ends()
    {
        var throttle = new CpuThrottle();
        var limit = new GuestCpuLimit(20_000, 100_000);
        var ms = Stopwatch.Frequency / 1000;
        const long t0 = 1_000_000;

        Assert.Equal(0, throttle.Charge(limit, t0, 0));
        Assert.Equal(0, throttle.Charge(limit, t0 + 10 * ms, 10 * MsNs));
        Assert.Equal(t0 + 100 * ms, throttle.Charge(limit, t0 + 20 * ms, 20 * MsNs));
        // 5 ms over in the first window: the next one has 15 ms.
        Assert.Equal(0, throttle.Charge(limit, t0 + 100 * ms, 25 * MsNs));
        Assert.Equal(0, throttle.Charge(limit, t0 + 110 * ms, 39 * MsNs));
        Assert.Equal(t0 + 200 * ms, throttle.Charge(limit, t0 + 111 * ms, 40 * MsNs));
        Assert.Equal(0, throttle.Charge(null, t0 + 112 * ms, 40 * MsNs));
    }

    [Fact]
    public void Oci_cpu_settings_must_map_to_a_guest_limit()
    {
        Assert.Null(GuestCpuLimit.FromOci(null, 100_000));
        Assert.Null(GuestCpuLimit.FromOci(-1, 100_000));
        Assert.Null(GuestCpuLimit.FromOci(0, null));
        Assert.Equal(new GuestCpuLimit(50_000, 100_000), GuestCpuLimit.FromOci(50_000, null));
        Assert.Equal(new GuestCpuLimit(20_000, 50_000), GuestCpuLimit.FromOci(20_000, 50_000));
        Assert.False(new GuestCpuLimit(200_000, 100_000).Throttles);
        Assert.Throws<ArgumentOutOfRangeException>(() => _fx.Guest("spin", GuestWat.Spin, EngineFixture.Config(_fx.NewRootfs())).UpdateCpu(new GuestCpuLimit(500, 100_000)));
    }

    /// <summary>Prints "growing\n", then tries to grow its memory by one page, forever.</summary>
    private const string HungryWat = """
        (module
          (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
          (memory (export "memory") 1)
          (data (i32.const 1024) "growing\n")
          (func (export "_start")
            (i32.store (i32.const 0) (i32.const 1024))
            (i32.store (i32.const 4) (i32.const 8))
            (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
            (loop $forever
              (drop (memory.grow (i32.const 1)))
              (br $forever))))
        """;

    /// <summary>A spinning guest, running, with its CPU limit set before it started.</summary>
    private (Guest Guest, GuestRunner Run, Task<int> Tid) Spinner(GuestCpuLimit? limit)
    {
        var stdout = new CapturedOutput();
        var guest = _fx.Guest("spin", GuestWat.Spin, EngineFixture.Config(_fx.NewRootfs()), stdout);
        guest.UpdateCpu(limit);
        var run = GuestRunner.Start(guest);
        return (guest, run, Task.Run(async () =>
        {
            Assert.True(stdout.WaitFor("spinning", MarkerTimeout));
            return await PauseSpec.GuestTid(guest);
        }));
    }

    private static async Task Until(Func<bool> condition)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > MarkerTimeout)
                throw new TimeoutException("the condition did not become true in time");
            await Task.Delay(5);
        }
    }
}
