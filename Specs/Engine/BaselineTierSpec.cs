using System.Diagnostics;
using WasmKata.Engine;
using Xunit;

namespace WasmKata.Specs.Engine;

/// <summary>
/// Big modules: the first start runs Winch code, Cranelift compiles in the background and later starts get its code;
/// guests on Winch code are killed as fast as on Cranelift's. The threshold is one byte here, so small modules stand in.
/// </summary>
[Collection(EngineTimingCollection.Name)]
public sealed class BaselineTierSpec : IDisposable
{
    private static readonly TimeSpan OptimizeWait = TimeSpan.FromMinutes(2);
    private readonly string _dir = Directory.CreateTempSubdirectory("wasmkata-tiers-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void A_big_module_must_start_on_Winch_code_and_later_starts_must_get_Cranelift_code()
    {
        var module = Module("tiers");
        using (var first = new WasmEngine(Options()))
        {
            var loaded = first.Load(module);
            Assert.True(loaded.Baseline, "the first load did not run Winch code");
            Assert.Equal(ModuleSource.Compiled, loaded.Source);
            Assert.True(first.WaitForOptimizations(OptimizeWait), "the background compile did not end");
            Assert.Equal(2, first.Loader.Compiles);
            // The Cranelift entry replaced the Winch one.
            Assert.Single(Directory.GetFiles(Path.Combine(_dir, "cache"), loaded.Digest + "-*.cwasm"));

            var again = first.Load(module);
            Assert.False(again.Baseline, "a load in the same shim after the background compile still ran Winch code");
            Assert.Equal(ModuleSource.MemoryCache, again.Source);
        }

        using var next = new WasmEngine(Options());
        var cached = next.Load(module);
        Assert.False(cached.Baseline, "a new shim did not find the optimised code in the cache");
        Assert.Equal(ModuleSource.DiskCache, cached.Source);
        Assert.Equal(0, next.Loader.Compiles);
        Assert.Equal(0, next.OptimizationsPending);
    }

    [Fact]
    public void Without_the_threshold_a_module_must_be_compiled_with_Cranelift_only()
    {
        using var engine = new WasmEngine(Options() with { BaselineMinBytes = 0 });
        var loaded = engine.Load(Module("no-tiers"));

        Assert.False(loaded.Baseline);
        Assert.Equal(0, engine.OptimizationsPending);
        Assert.Equal(1, engine.Loader.Compiles);
    }

    [Fact]
    public void Eight_shims_starting_a_new_big_module_at_once_must_compile_each_tier_once()
    {
        var module = Module("eight");
        const int engines = 8;
        var all = Enumerable.Range(0, engines).Select(_ => new WasmEngine(Options())).ToList();
        try
        {
            using var start = new Barrier(engines);
            var loads = new GuestModule[engines];
            var threads = Enumerable.Range(0, engines).Select(i => new Thread(() =>
            {
                start.SignalAndWait();
                loads[i] = all[i].Load(module);
            })).ToList();
            threads.ForEach(t => t.Start());
            threads.ForEach(t => t.Join());
            Assert.All(all, e => Assert.True(e.WaitForOptimizations(OptimizeWait)));

            Assert.Equal(1, loads.Count(l => l.Source == ModuleSource.Compiled));
            // One Winch compile and one Cranelift compile among all of them.
            Assert.Equal(2, all.Sum(e => e.Loader.Compiles));
            Assert.True(File.Exists(all[0].Loader.Cache!.EntryPath(loads[0].Digest)), "no optimised entry in the cache");
        }
        finally
        {
            all.ForEach(e => e.Dispose());
        }
    }

    [Fact]
    public void A_spinning_guest_on_Winch_code_must_be_killed_within_100_ms()
    {
        var rootfs = Directory.CreateDirectory(Path.Combine(_dir, "rootfs")).FullName;
        var path = Path.Combine(_dir, "spin.wasm");
        File.WriteAllBytes(path, Wasmtime.Module.ConvertText(GuestWat.Spin));
        // No disk cache and no wait: the guest runs the Winch code while Cranelift compiles beside it.
        using var engine = new WasmEngine(new EngineOptions { BaselineMinBytes = 1 });
        var module = engine.Load(path);
        Assert.True(module.Baseline, "the spin guest did not get Winch code");
        var stdout = new CapturedOutput();
        var guest = engine.CreateGuest(module, EngineFixture.Config(rootfs), new GuestStdio(null, stdout, null));
        guest.Instantiate();
        var run = GuestRunner.Start(guest);
        Assert.True(stdout.WaitFor("spinning", TimeSpan.FromSeconds(10)), $"no spinning marker: {stdout.Text}");

        var clock = Stopwatch.StartNew();
        guest.Kill(9);
        var exit = run.Join();

        Assert.Equal(new GuestExit(137, null, true), exit);
        Assert.InRange(clock.ElapsedMilliseconds, 0, 100);
        Assert.True(engine.WaitForOptimizations(OptimizeWait), "the background compile did not end");
    }

    [Fact]
    public void With_a_compile_process_the_Cranelift_entry_it_writes_must_reach_the_next_load_in_the_same_shim()
    {
        var module = Module("process");
        var requests = new List<CompileRequest>();
        // Stands in for the daemon's launcher: what the compile process runs, run here, before the pid is returned.
        var options = Options() with
        {
            CompileProcess = request =>
            {
                requests.Add(request);
                Assert.True(CompileProcessWork.Run(Options(), request.Name, request.Bytes, Serilog.Core.Logger.None));
                return Environment.ProcessId;
            },
        };
        using var engine = new WasmEngine(options);

        var first = engine.Load(module);
        Assert.True(first.Baseline, "the first load did not run Winch code");
        Assert.True(engine.WaitForCacheWrites(OptimizeWait), "the Winch entry was not written");
        var request = Assert.Single(requests);
        Assert.Equal(first.Digest, request.Digest);
        Assert.Equal(File.ReadAllBytes(module), request.Bytes);
        // The compile wrote the Cranelift entry and removed the Winch one; this shim compiled only Winch code.
        Assert.Single(Directory.GetFiles(Path.Combine(_dir, "cache"), first.Digest + "-*.cwasm"));
        Assert.Equal(1, engine.Loader.Compiles);

        var next = engine.Load(module);
        Assert.False(next.Baseline, "the next load in the same shim still ran Winch code");
        Assert.Equal(ModuleSource.DiskCache, next.Source);
        Assert.Equal(ModuleSource.MemoryCache, engine.Load(module).Source);
    }

    private EngineOptions Options() => new() { ModuleCacheDirectory = Path.Combine(_dir, "cache"), BaselineMinBytes = 1 };

    private string Module(string tag)
    {
        var path = Path.Combine(_dir, tag + ".wasm");
        File.WriteAllBytes(path, GeneratedModules.Wasm(200, tag + Guid.NewGuid().ToString("N")));
        return path;
    }
}
