using WasmKata.Engine;
using Xunit;

namespace WasmKata.Specs.Engine;

/// <summary>
/// The compile cache entry a daemon hands a guest host (guest_isolation = "process"): checked through the descriptor
/// handed over, rebuilt when damaged, and loaded by a cacheless engine of the same settings without compiling; an
/// engine of other settings refuses it with a reason.
/// </summary>
public sealed class CompiledEntrySpec : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("wasmkata-entry-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Cache => Path.Combine(_dir, "cache");

    [Fact]
    public void An_entry_must_load_in_a_guest_hosts_engine_without_a_compile_and_run()
    {
        var path = Module("run");
        using var daemon = new WasmEngine(new EngineOptions { ModuleCacheDirectory = Cache });
        using var entry = daemon.PrepareCompiledEntry(path)!;

        using var guestHost = new WasmEngine(new EngineOptions());
        var module = guestHost.LoadCompiled(entry.Handle, path, entry.Digest);

        Assert.Equal((WasmKind.CoreModule, ModuleSource.DiskCache, false), (module.Kind, module.Source, module.Baseline));
        Assert.Equal(0, guestHost.Loader.Compiles);
        using var guest = guestHost.CreateGuest(module, EngineFixture.Config(Directory.CreateDirectory(Path.Combine(_dir, "rootfs")).FullName),
            new GuestStdio(null, null, null));
        guest.Instantiate();
        Assert.Equal(0, GuestRunner.Start(guest).Join().Status);
    }

    [Fact]
    public void A_second_daemon_must_hand_over_the_entry_on_disk_and_rebuild_a_damaged_one_first()
    {
        var path = Module("again");
        string file;
        using (var first = new WasmEngine(new EngineOptions { ModuleCacheDirectory = Cache }))
        using (var entry = first.PrepareCompiledEntry(path)!)
        {
            file = entry.Path;
            Assert.Equal(1, first.Loader.Compiles);
        }
        using (var second = new WasmEngine(new EngineOptions { ModuleCacheDirectory = Cache }))
        using (second.PrepareCompiledEntry(path))
            Assert.Equal(0, second.Loader.Compiles);

        var bytes = File.ReadAllBytes(file);
        bytes[^100] ^= 0x40;
        File.WriteAllBytes(file, bytes);
        using var third = new WasmEngine(new EngineOptions { ModuleCacheDirectory = Cache });
        using var rebuilt = third.PrepareCompiledEntry(path)!;

        Assert.Equal(1, third.Loader.Compiles);
        Assert.False(File.ReadAllBytes(file).SequenceEqual(bytes), "the damaged entry is still there");
        using var guestHost = new WasmEngine(new EngineOptions());
        Assert.Equal(WasmKind.CoreModule, guestHost.LoadCompiled(rebuilt.Handle, path, rebuilt.Digest).Kind);
    }

    [Fact]
    public void An_entry_of_other_engine_settings_must_be_refused_with_a_reason()
    {
        var path = Module("pooled");
        using var daemon = new WasmEngine(new EngineOptions
        {
            ModuleCacheDirectory = Cache,
            PoolingAllocator = true,
            PoolingMaxInstances = 2,
            PoolingMaxMemoryBytes = 1 << 20,
        });
        using var entry = daemon.PrepareCompiledEntry(path)!;
        using var guestHost = new WasmEngine(new EngineOptions());

        var e = Assert.Throws<InvalidOperationException>(() => guestHost.LoadCompiled(entry.Handle, path, entry.Digest));

        Assert.Contains("other engine settings", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_big_modules_first_entry_must_be_Winchs_and_load_on_the_guest_hosts_Winch_tier()
    {
        var path = Module("tiered");
        using var daemon = new WasmEngine(new EngineOptions { ModuleCacheDirectory = Cache, BaselineMinBytes = 1 });
        using (var entry = daemon.PrepareCompiledEntry(path)!)
        {
            Assert.True(entry.Baseline, "the first entry of a big module is not Winch's");
            using var guestHost = new WasmEngine(new EngineOptions());
            Assert.True(guestHost.LoadCompiled(entry.Handle, path, entry.Digest).Baseline);
        }
        Assert.True(daemon.WaitForOptimizations(TimeSpan.FromMinutes(2)), "the background compile did not end");

        using var optimized = daemon.PrepareCompiledEntry(path)!;
        Assert.False(optimized.Baseline, "Cranelift's entry was not handed over once it was written");
    }

    [Fact]
    public void Something_that_is_not_an_entry_must_be_refused_with_a_reason()
    {
        var path = Module("junk");
        using var guestHost = new WasmEngine(new EngineOptions());
        using var handle = File.OpenHandle(path);

        var e = Assert.Throws<InvalidOperationException>(() => guestHost.LoadCompiled(handle, path, new string('0', 64)));

        Assert.Contains("not a compile cache entry", e.Message, StringComparison.Ordinal);
    }

    private string Module(string tag)
    {
        var path = Path.Combine(_dir, tag + ".wasm");
        File.WriteAllBytes(path, GeneratedModules.Wasm(4, tag + Guid.NewGuid().ToString("N")));
        return path;
    }
}
