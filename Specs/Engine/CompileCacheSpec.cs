using WasmKata.Engine;
using Xunit;

namespace WasmKata.Specs.Engine;

/// <summary>The compile cache on disk: bounded by last use, one compile under concurrent first use, and sound entries only.</summary>
public sealed class CompileCacheSpec : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("wasmkata-cache-").FullName;
    private readonly string _cache;

    public CompileCacheSpec() => _cache = Path.Combine(_dir, "cache");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Entries_used_least_recently_must_be_evicted_past_the_limit()
    {
        var (a, b, c) = (Module("a"), Module("b"), Module("c"));
        var entryA = LoadOnce(a).Entry;
        var entryB = LoadOnce(b).Entry;
        File.SetLastWriteTimeUtc(entryA, DateTime.UtcNow.AddHours(-3));
        File.SetLastWriteTimeUtc(entryB, DateTime.UtcNow.AddHours(-2));
        var size = new FileInfo(entryA).Length;

        // A is used again (from the disk cache), so B is now the one used least recently.
        Assert.Equal(ModuleSource.DiskCache, LoadOnce(a).Source);
        var (source, entryC) = LoadOnce(c, maxBytes: size * 5 / 2);

        Assert.Equal(ModuleSource.Compiled, source);
        Assert.True(File.Exists(entryA), "the entry used recently was evicted");
        Assert.False(File.Exists(entryB), "the entry used least recently was kept");
        Assert.True(File.Exists(entryC), "the entry just written was evicted");
    }

    [Fact]
    public void An_entry_alone_larger_than_the_limit_must_stay_until_another_comes()
    {
        var first = LoadOnce(Module("big"), maxBytes: 1).Entry;
        Assert.True(File.Exists(first));

        var second = LoadOnce(Module("next"), maxBytes: 1).Entry;

        Assert.False(File.Exists(first));
        Assert.True(File.Exists(second));
    }

    [Theory]
    [InlineData("flipped payload byte")]
    [InlineData("truncated")]
    [InlineData("zeros")]
    [InlineData("other engine settings")]
    public void A_damaged_entry_must_be_refused_deleted_and_rebuilt(string damage)
    {
        var module = Module("damaged");
        var entry = LoadOnce(module).Entry;
        var bytes = File.ReadAllBytes(entry);
        switch (damage)
        {
            case "flipped payload byte":
                bytes[^100] ^= 0x40;
                break;
            case "truncated":
                bytes = bytes[..(bytes.Length / 2)];
                break;
            case "zeros":
                bytes = new byte[bytes.Length];
                break;
            case "other engine settings":
                bytes[10] ^= 1;
                break;
        }
        File.WriteAllBytes(entry, bytes);

        Assert.Equal(ModuleSource.Compiled, LoadOnce(module).Source);
        Assert.Equal(ModuleSource.DiskCache, LoadOnce(module).Source);
    }

    [Fact]
    public void Code_of_another_engine_configuration_must_be_taken_as_stale_not_loaded()
    {
        var module = Module("foreign");
        var entry = LoadOnce(module).Entry;
        // Compiled by an engine without epoch interruption, under a header that claims our settings: only Wasmtime
        // can tell, and its refusal must rebuild the entry, not crash the shim.
        using var foreignConfig = new Wasmtime.Config();
        using var foreignEngine = new Wasmtime.Engine(foreignConfig);
        using var foreign = Wasmtime.Module.FromFile(foreignEngine, module);
        var payload = foreign.Serialize();
        using (var engine = new WasmEngine(Options()))
            File.WriteAllBytes(entry, [.. CompileCache.Frame(engine.Loader.Cache!.SettingsHash, payload), .. payload]);

        using var fresh = new WasmEngine(Options());
        var loaded = fresh.Load(module);

        Assert.Equal(ModuleSource.Compiled, loaded.Source);
        Assert.Equal(1, fresh.Loader.Compiles);
        Assert.Equal(ModuleSource.DiskCache, LoadOnce(module).Source);
    }

    [Fact]
    public void Concurrent_first_use_by_separate_engines_must_compile_once()
    {
        var module = Path.Combine(_dir, "big.wasm");
        File.WriteAllBytes(module, GeneratedModules.Wasm(2000, Guid.NewGuid().ToString("N")));
        const int engines = 8;
        var all = Enumerable.Range(0, engines).Select(_ => new WasmEngine(Options())).ToList();
        try
        {
            using var start = new Barrier(engines);
            var sources = new ModuleSource[engines];
            var threads = Enumerable.Range(0, engines).Select(i => new Thread(() =>
            {
                start.SignalAndWait();
                sources[i] = all[i].Load(module).Source;
            })).ToList();
            threads.ForEach(t => t.Start());
            threads.ForEach(t => t.Join());

            Assert.Equal(1, all.Sum(e => e.Loader.Compiles));
            Assert.Equal(1, sources.Count(s => s == ModuleSource.Compiled));
            Assert.Equal(engines - 1, sources.Count(s => s == ModuleSource.DiskCache));
        }
        finally
        {
            all.ForEach(e => e.Dispose());
        }
    }

    [Fact]
    public void A_cache_directory_others_may_write_to_must_not_be_used()
    {
        Directory.CreateDirectory(_cache);
        File.SetUnixFileMode(_cache, (UnixFileMode)0x1ff);
        var module = Module("shared");

        using var engine = new WasmEngine(Options());
        Assert.Null(engine.Loader.Cache);
        Assert.Equal(ModuleSource.Compiled, engine.Load(module).Source);
        Assert.Empty(Directory.GetFiles(_cache));
    }

    private EngineOptions Options(long maxBytes = 1L << 30) => new() { ModuleCacheDirectory = _cache, ModuleCacheMaxBytes = maxBytes };

    private string Module(string tag)
    {
        var path = Path.Combine(_dir, tag + ".wasm");
        File.WriteAllBytes(path, GeneratedModules.Wasm(4, tag));
        return path;
    }

    // A fresh engine, as a new shim process would have: nothing in memory.
    private (ModuleSource Source, string Entry) LoadOnce(string module, long maxBytes = 1L << 30)
    {
        using var engine = new WasmEngine(Options(maxBytes));
        var loaded = engine.Load(module);
        return (loaded.Source, engine.Loader.Cache!.EntryPath(loaded.Digest));
    }
}
