using WasmKata.Core.Hooks;
using WasmKata.Core.Oci;
using WasmKata.Linux;
using WasmKata.Linux.Processes;
using WasmKata.Specs.Core.Hooks;
using Xunit;
using static WasmKata.Specs.Core.Hooks.HookBench;

namespace WasmKata.Specs.Linux;

[Collection(SerialHooksCollection.Name)]
public sealed class ChildReaperSpec : IDisposable
{
    private readonly HookBench _bench = new();

    public ChildReaperSpec()
    {
        // Process-wide for the test host, as in the shim; orphans of every later spec come to us too.
        Self.SetChildSubreaper();
    }

    public void Dispose() => _bench.Dispose();

    [Fact]
    public async Task The_orphan_of_a_double_forking_hook_must_be_reaped()
    {
        var orphan = await RunDoubleForkingHookAsync();
        await AwaitZombieChildAsync(orphan);

        var reaped = ChildReaper.ReapOrphans(null);

        Assert.InRange(reaped, 1, int.MaxValue);
        Assert.Null(StateOf(orphan));
    }

    [Fact]
    public async Task An_excluded_zombie_must_be_left_for_later()
    {
        var orphan = await RunDoubleForkingHookAsync();
        await AwaitZombieChildAsync(orphan);

        ChildReaper.ReapOrphans(new HashSet<int> { orphan });
        Assert.Equal('Z', StateOf(orphan));

        ChildReaper.ReapOrphans(new HashSet<int>());
        Assert.Null(StateOf(orphan));
    }

    [Fact]
    public async Task Reaping_must_not_steal_the_status_of_a_System_Diagnostics_Process()
    {
        // .NET fails fast when a child it started was reaped by someone else, so a steal would end the test run.
        using var stop = new CancellationTokenSource();
        var reaper = Task.Run(() => HammerAsync(stop.Token));
        try
        {
            for (var i = 0; i < 20; i++)
            {
                using var process = System.Diagnostics.Process.Start("/bin/sh", ["-c", $"exit {i + 7}"]);
                await process.WaitForExitAsync().Within();
                Assert.Equal(i + 7, process.ExitCode);
            }
        }
        finally
        {
            await stop.CancelAsync();
            await reaper;
        }
    }

    [Fact]
    public async Task Reaping_must_not_steal_the_status_of_a_running_hook()
    {
        var hook = _bench.Script("exit3.sh", "exit 3");
        using var stop = new CancellationTokenSource();
        var reaper = Task.Run(() => HammerAsync(stop.Token));
        try
        {
            for (var i = 0; i < 20; i++)
            {
                var e = await Assert.ThrowsAsync<HookFailedException>(() => HookRunner.RunAsync(HookKind.CreateRuntime, [Hook(hook)], _bench.State()).Within());
                Assert.Equal(3, e.Exit?.ExitCode);
            }
        }
        finally
        {
            await stop.CancelAsync();
            await reaper;
        }
    }

    [Fact]
    public async Task Both_ways_of_listing_children_must_find_a_child()
    {
        using var sleeper = System.Diagnostics.Process.Start("/bin/sleep", "30");
        try
        {
            Assert.Contains(sleeper.Id, ChildReaper.ListFromTaskFiles());
            Assert.Contains(sleeper.Id, ChildReaper.ListFromProcScan());
            Assert.DoesNotContain(Environment.ProcessId, ChildReaper.ListFromProcScan());
        }
        finally
        {
            sleeper.Kill();
            await sleeper.WaitForExitAsync().Within();
        }
    }

    /// <summary>Runs a hook whose background child outlives it; returns the orphan's pid.</summary>
    private async Task<int> RunDoubleForkingHookAsync()
    {
        var hook = _bench.Script("double-fork.sh", "( sleep 0.3 </dev/null >/dev/null 2>&1 & echo $! > $DIR/orphan ); exit 0");
        File.Delete(_bench.File("orphan"));

        await HookRunner.RunAsync(HookKind.CreateRuntime, [Hook(hook)], _bench.State()).Within();

        // Its parent died, so it was re-parented to us, the nearest subreaper.
        var orphan = int.Parse(_bench.Read("orphan"));
        Assert.True(ProcStat.TryRead(orphan, out var stat));
        Assert.Equal(Environment.ProcessId, stat.ParentPid);
        Assert.NotEqual(Environment.ProcessId, stat.Session);
        return orphan;
    }

    private static async Task AwaitZombieChildAsync(int pid)
    {
        var deadline = DateTime.UtcNow + Await.Long;
        while (StateOf(pid) != 'Z')
        {
            Assert.True(DateTime.UtcNow < deadline, $"pid {pid} never became a zombie");
            await Task.Delay(10);
        }

        Assert.Contains($") Z {Environment.ProcessId} ", ReadProc(pid, "stat"), StringComparison.Ordinal);
    }

    private static async Task HammerAsync(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            ChildReaper.ReapOrphans(null);
            await Task.Yield();
        }
    }
}
