using WasmKata.Engine;
using Xunit;

namespace WasmKata.Specs.Engine;

public sealed class WasmEngineSpec : IClassFixture<EngineFixture>
{
    private readonly EngineFixture _fx;

    public WasmEngineSpec(EngineFixture fx) => _fx = fx;

    [Fact]
    public void Load_must_refuse_junk_bytes_naming_the_path()
    {
        var path = Path.Combine(_fx.Directory, "junk.wasm");
        File.WriteAllText(path, "#!/bin/sh\necho not wasm\n");
        var e = Assert.Throws<InvalidModuleException>(() => _fx.Engine.Load(path));
        Assert.StartsWith($"invalid wasm module {path}: not a WebAssembly module", e.Message);
    }

    [Fact]
    public void Load_must_refuse_an_empty_file()
    {
        var path = Path.Combine(_fx.Directory, "empty.wasm");
        File.WriteAllBytes(path, []);
        var e = Assert.Throws<InvalidModuleException>(() => _fx.Engine.Load(path));
        Assert.Equal($"invalid wasm module {path}: not a WebAssembly module (the file is empty)", e.Message);
    }

    [Fact]
    public void Load_must_refuse_a_missing_file()
    {
        var path = Path.Combine(_fx.Directory, "nope", "missing.wasm");
        var e = Assert.Throws<InvalidModuleException>(() => _fx.Engine.Load(path));
        Assert.Equal($"invalid wasm module {path}: file not found", e.Message);
    }

    [Fact]
    public void Load_must_take_a_component_header_for_a_component_and_report_its_compilation_error()
    {
        var path = Path.Combine(_fx.Directory, "component.wasm");
        // The component header and nothing else: a component, but not a valid one.
        File.WriteAllBytes(path, [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00, 0xff]);
        var e = Assert.Throws<InvalidModuleException>(() => _fx.Engine.Load(path));
        Assert.StartsWith($"invalid wasm module {path}: component compilation failed: ", e.Message);
    }

    [Fact]
    public void Load_must_refuse_a_component_of_another_binary_version()
    {
        var path = Path.Combine(_fx.Directory, "component-v0e.wasm");
        File.WriteAllBytes(path, [0x00, 0x61, 0x73, 0x6d, 0x0e, 0x00, 0x01, 0x00]);
        var e = Assert.Throws<InvalidModuleException>(() => _fx.Engine.Load(path));
        Assert.Equal($"invalid wasm module {path}: unsupported WebAssembly component binary version 0xe (this engine reads 0xd)", e.Message);
    }

    [Fact]
    public void Load_must_report_the_validation_error()
    {
        var path = _fx.WriteWasm("invalid", "(module (func (result i32)))");
        var e = Assert.Throws<InvalidModuleException>(() => _fx.Engine.Load(path));
        Assert.StartsWith($"invalid wasm module {path}: validation error: type mismatch", e.Message);
    }

    [Fact]
    public void Load_must_reuse_compiled_code_for_the_same_bytes()
    {
        var first = _fx.Engine.Load(_fx.WriteWasm("same-a", GuestWat.Return));
        var second = _fx.Engine.Load(_fx.WriteWasm("same-b", GuestWat.Return));
        Assert.Equal(first.Digest, second.Digest);
        Assert.Equal(ModuleSource.MemoryCache, second.Source);
        Assert.EndsWith("same-b.wasm", second.Path);
    }

    [Fact]
    public void Disk_cache_must_serve_a_second_engine_and_heal_a_corrupt_entry()
    {
        var cache = Path.Combine(_fx.Directory, "cache-" + Guid.NewGuid().ToString("N"));
        var path = _fx.WriteWasm("cached", GuestWat.Hello);
        var options = new EngineOptions { ModuleCacheDirectory = cache };

        Assert.Equal(ModuleSource.Compiled, LoadWith(options, path));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(cache));
        var entry = Assert.Single(Directory.GetFiles(cache));
        Assert.EndsWith(".cwasm", entry);
        Assert.Equal(ModuleSource.DiskCache, LoadWith(options, path));

        File.WriteAllBytes(entry, new byte[4096]);
        Assert.Equal(ModuleSource.Compiled, LoadWith(options, path));
        Assert.Equal(ModuleSource.DiskCache, LoadWith(options, path));
        Assert.Single(Directory.GetFiles(cache));
    }

    [Fact]
    public void Disk_cache_must_key_on_engine_settings()
    {
        var cache = Path.Combine(_fx.Directory, "cache-" + Guid.NewGuid().ToString("N"));
        var path = _fx.WriteWasm("cached-settings", GuestWat.Return);
        LoadWith(new EngineOptions { ModuleCacheDirectory = cache }, path);
        Assert.Equal(ModuleSource.Compiled, LoadWith(new EngineOptions { ModuleCacheDirectory = cache, PoolingAllocator = true, PoolingMaxInstances = 4 }, path));
        Assert.Equal(2, Directory.GetFiles(cache).Length);
    }

    [Fact]
    public void Pooling_allocator_must_run_guests()
    {
        using var engine = new WasmEngine(new EngineOptions { PoolingAllocator = true, PoolingMaxInstances = 8, PoolingMaxMemoryBytes = 16 << 20 });
        var module = engine.Load(_fx.WriteWasm("pooled", GuestWat.Hello));
        for (var i = 0; i < 20; i++)
        {
            var stdout = new CapturedOutput();
            var guest = engine.CreateGuest(module, EngineFixture.Config(_fx.NewRootfs()), new GuestStdio(null, stdout, null));
            guest.Instantiate();
            Assert.Equal(0, GuestRunner.RunToEnd(guest).Status);
            Assert.Equal("hello, world\n", stdout.Text);
        }
    }

    [Fact]
    public void Default_pooling_limits_must_fit_this_machine()
    {
        using var engine = new WasmEngine(new EngineOptions { PoolingAllocator = true });
        var guest = engine.CreateGuest(engine.Load(_fx.WriteWasm("pooled-default", GuestWat.Return)), EngineFixture.Config(_fx.NewRootfs()), new GuestStdio(null, null, null));
        guest.Instantiate();
        Assert.Equal(0, GuestRunner.RunToEnd(guest).Status);
    }

    [Fact]
    public void CreateGuest_must_refuse_a_module_of_another_engine()
    {
        using var other = new WasmEngine(new EngineOptions());
        var module = other.Load(_fx.WriteWasm("other", GuestWat.Return));
        Assert.Throws<ArgumentException>(() => _fx.Engine.CreateGuest(module, EngineFixture.Config(_fx.NewRootfs()), new GuestStdio(null, null, null)));
    }

    [Fact]
    public void Dispose_must_be_idempotent_and_refuse_later_loads()
    {
        var engine = new WasmEngine(new EngineOptions { EpochTick = TimeSpan.FromMilliseconds(1) });
        var path = _fx.WriteWasm("disposed", GuestWat.Return);
        engine.Load(path);
        engine.Dispose();
        engine.Dispose();
        Assert.Throws<ObjectDisposedException>(() => engine.Load(path));
    }

    private static ModuleSource LoadWith(EngineOptions options, string path)
    {
        using var engine = new WasmEngine(options);
        return engine.Load(path).Source;
    }
}
