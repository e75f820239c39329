using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Security.Cryptography;
using Serilog;
using Wasmtime;
using Wasmtime.Components;

namespace WasmKata.Engine;

/// <summary>Reads, validates and compiles core modules and components, reusing compiled code from memory or from the disk cache.</summary>
/// <remarks>
/// Which of the two a file is comes from its header (the binary version and layer after <c>\0asm</c>), never from
/// its name. Memory entries are keyed by the file's SHA-256; the disk cache (<see cref="CompileCache"/>) by that plus
/// the engine settings, both kinds in one directory. A file new to the disk cache is compiled under its entry's lock,
/// so shims starting the same new module at once compile it once: the others wait, then load what the first one wrote.
/// A core module of <see cref="EngineOptions.BaselineMinBytes"/> or more whose Cranelift code is not cached yet starts
/// on Winch code (cached too, under its own settings) while one thread compiles it with Cranelift in the background
/// (<see cref="ModuleOptimizer"/>); later loads get the optimised code.
/// </remarks>
internal sealed partial class ModuleLoader : IDisposable
{
    private readonly EngineTier _optimizing;
    private readonly Lazy<EngineTier> _baseline;
    private readonly CompileCache? _cache;
    private readonly Lazy<CompileCache?> _baselineCache;
    private readonly long _baselineMinBytes;
    private readonly ILogger _log;
    private readonly ConcurrentDictionary<string, CompiledWasm> _loaded = new(StringComparer.Ordinal);
    // Code replaced in _loaded by its optimised build: guests may still run it, so it lives as long as the loader.
    private readonly ConcurrentBag<CompiledWasm> _replaced = [];
    private readonly ModuleOptimizer _optimizer;
    // Winch entries being written beside their first guest, by digest; each starts the optimising compile when done.
    private readonly ConcurrentDictionary<string, Task> _stores = new(StringComparer.Ordinal);
    private long _compiles;

    public ModuleLoader(EngineTier optimizing, Func<EngineTier> baseline, EngineOptions options, ILogger log)
    {
        _optimizing = optimizing;
        _baseline = new Lazy<EngineTier>(baseline);
        _baselineMinBytes = options.BaselineMinBytes;
        _log = log;
        if (options.ModuleCacheDirectory is { } directory)
        {
            var cache = new CompileCache(optimizing, directory, options.ModuleCacheMaxBytes, log);
            _cache = cache.Prepare() ? cache : null;
        }
        _baselineCache = new Lazy<CompileCache?>(() =>
            _cache is null ? null : new CompileCache(_baseline.Value, _cache.Directory, _cache.MaxBytes, log));
        _optimizer = new ModuleOptimizer(this, options, log);
    }

    /// <summary>How many modules and components this loader compiled (not found in memory or on disk), either tier.</summary>
    public long Compiles => Interlocked.Read(ref _compiles);

    /// <summary>
    /// How many big modules are on their way to optimised code now: a Winch entry being written, a Cranelift compile
    /// on a thread of this process or in a compile process it started.
    /// </summary>
    public int OptimizationsPending => CacheWritesPending + _optimizer.Pending;

    /// <summary>How many Winch entries are being written (each then starts its optimising compile).</summary>
    public int CacheWritesPending => _stores.Count(s => !s.Value.IsCompleted);

    internal CompileCache? Cache => _cache;

    /// <summary>Waits up to <paramref name="limit"/> for the Winch entries being written; false when some still are.</summary>
    public bool WaitForCacheWrites(TimeSpan limit)
    {
        var stores = _stores.Values.Where(t => !t.IsCompleted).ToArray();
        // A write that failed has logged why (or faulted): either way it is over, and waiting must not throw for it.
        return stores.Length == 0 || Task.WhenAll(stores).ContinueWith(static _ => { }, TaskScheduler.Default).Wait(limit);
    }

    /// <summary>Waits up to <paramref name="limit"/> for the writes and the background compiles; false when some still run.</summary>
    public bool WaitForOptimizations(TimeSpan limit)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        if (!WaitForCacheWrites(limit))
            return false;
        var left = limit - clock.Elapsed;
        return _optimizer.WaitAll(left > TimeSpan.Zero ? left : TimeSpan.Zero);
    }

    /// <summary>
    /// Disposes the loaded code unless a write or a compile on a thread of this process still uses it (then false, and
    /// nothing is disposed). A compile process has code of its own.
    /// </summary>
    public bool DisposeWhenIdle()
    {
        if (!WaitForCacheWrites(TimeSpan.Zero) || !_optimizer.WaitAllThreads(TimeSpan.Zero))
            return false;
        Dispose();
        return true;
    }

    public (CompiledWasm Code, string Digest, ModuleSource Source) Load(string path)
    {
        var bytes = Read(path);
        var kind = CheckHeader(path, bytes);
        var digest = Convert.ToHexStringLower(SHA256.HashData(bytes));
        if (_loaded.TryGetValue(digest, out var known))
        {
            if (known.Tier.Compiler == CompilerTier.Winch && LoadOptimizedFromDisk(digest) is { } optimized)
                return (optimized, digest, ModuleSource.DiskCache);
            _cache?.Touch(_cache.EntryPath(digest));
            return (known, digest, ModuleSource.MemoryCache);
        }

        if (kind == WasmKind.CoreModule && _baselineMinBytes > 0 && bytes.Length >= _baselineMinBytes)
        {
            var (tiered, from) = LoadTiered(path, bytes, digest);
            _log.Information("{Module} ({Digest}, {Bytes} bytes) starts on its {Compiler} code ({Source})", path, digest, bytes.Length, tiered.Tier.Compiler, from);
            return Remember(digest, tiered, from);
        }
        var (code, source) = _cache is null ? (Compile(path, bytes, digest, kind), ModuleSource.Compiled) : LoadThroughCache(_cache, path, bytes, digest, kind);
        return Remember(digest, code, source);
    }

    // A compile process (or another shim) wrote the optimised code of a module this shim runs on Winch code: the
    // starts from now on get it.
    private CompiledWasm? LoadOptimizedFromDisk(string digest)
    {
        var entry = _cache?.EntryPath(digest);
        if (entry is null || !File.Exists(entry) || _cache!.TryLoad(entry, WasmKind.CoreModule) is not { } optimized)
            return null;
        Optimized(digest, optimized);
        return optimized;
    }

    private (CompiledWasm, string, ModuleSource) Remember(string digest, CompiledWasm code, ModuleSource source)
    {

        // Two threads loading the same new module without a disk cache both compile; the first one in wins.
        var winner = _loaded.GetOrAdd(digest, code);
        if (!ReferenceEquals(winner, code))
        {
            code.Dispose();
            return (winner, digest, ModuleSource.MemoryCache);
        }
        return (code, digest, source);
    }

    public void Dispose()
    {
        foreach (var code in _loaded.Values)
            code.Dispose();
        _loaded.Clear();
        while (_replaced.TryTake(out var old))
            old.Dispose();
    }

    private (CompiledWasm, ModuleSource) LoadThroughCache(CompileCache cache, string path, byte[] bytes, string digest, WasmKind kind)
    {
        var entry = cache.EntryPath(digest);
        if (cache.TryLoad(entry, kind) is { } cached)
            return (cached, ModuleSource.DiskCache);
        CompiledWasm compiled;
        using (var held = cache.Lock(digest))
        {
            // Whoever held the lock before us may have compiled it meanwhile.
            if (cache.TryLoad(entry, kind) is { } theirs)
            {
                _log.Information("module cache {CacheDir}: {Digest} was compiled by another shim while we waited; loaded it", cache.Directory, digest);
                return (theirs, ModuleSource.DiskCache);
            }
            compiled = Compile(path, bytes, digest, kind);
            cache.Store(entry, compiled);
        }
        cache.Evict(keep: entry);
        return (compiled, ModuleSource.Compiled);
    }

    private static byte[] Read(string path)
    {
        if (Directory.Exists(path))
            throw new InvalidModuleException(path, "is a directory, not a file");
        try
        {
            return File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new InvalidModuleException(path, "file not found", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new InvalidModuleException(path, $"cannot read the file: {e.Message}", e);
        }
    }

    private static WasmKind CheckHeader(string path, ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length == 0)
            throw new InvalidModuleException(path, "not a WebAssembly module (the file is empty)");
        if (bytes.Length < 8 || !bytes[..4].SequenceEqual("\0asm"u8))
            throw new InvalidModuleException(path, "not a WebAssembly module (no \\0asm header)");
        var version = BinaryPrimitives.ReadUInt16LittleEndian(bytes[4..]);
        var layer = BinaryPrimitives.ReadUInt16LittleEndian(bytes[6..]);
        if (layer == 1)
        {
            if (version != ComponentVersion)
                throw new InvalidModuleException(path, $"unsupported WebAssembly component binary version 0x{version:x} (this engine reads 0x{ComponentVersion:x})");
            return WasmKind.Component;
        }
        if (version != 1 || layer != 0)
            throw new InvalidModuleException(path, $"unsupported WebAssembly binary version {version} (layer {layer})");
        return WasmKind.CoreModule;
    }

    private const ushort ComponentVersion = 0x0d;

    private CompiledWasm Compile(string path, byte[] bytes, string digest, WasmKind kind)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var code = kind == WasmKind.Component ? CompileComponent(path, bytes) : new CompiledWasm(CompileModule(path, bytes), _optimizing);
        Interlocked.Increment(ref _compiles);
        _log.Information("module cache {CacheDir}: compiled {Module} ({Digest}, {Bytes} bytes) in {Ms} ms",
            _cache?.Directory ?? "(none)", path, digest, bytes.Length, (long)System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        return code;
    }

    private CompiledWasm CompileComponent(string path, byte[] bytes)
    {
        // No separate validation call for components: compiling validates, and says what is wrong.
        try
        {
            return new CompiledWasm(Component.FromBytes(_optimizing.Engine, bytes), _optimizing);
        }
        catch (WasmtimeException e)
        {
            throw new InvalidModuleException(path, $"component compilation failed: {WasmtimeErrors.OneLine(e.Message)}", e);
        }
    }

    private Module CompileModule(string path, byte[] bytes)
    {
        var error = Module.Validate(_optimizing.Engine, bytes);
        if (error is not null)
            throw new InvalidModuleException(path, $"validation error: {error.Trim()}");
        try
        {
            return Module.FromBytes(_optimizing.Engine, Path.GetFileName(path), bytes);
        }
        catch (WasmtimeException e)
        {
            throw new InvalidModuleException(path, $"compilation failed: {e.Message.Trim()}", e);
        }
    }
}
