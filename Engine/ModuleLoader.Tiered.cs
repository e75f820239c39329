using Wasmtime;

namespace WasmKata.Engine;

// The first start of a big core module: Winch code now, Cranelift code for the starts after it.
internal sealed partial class ModuleLoader
{
    private (CompiledWasm, ModuleSource) LoadTiered(string path, byte[] bytes, string digest)
    {
        var optimizedEntry = _cache?.EntryPath(digest);
        if (optimizedEntry is not null && _cache!.TryLoad(optimizedEntry, WasmKind.CoreModule) is { } optimized)
            return (optimized, ModuleSource.DiskCache);

        var cache = _baselineCache.Value;
        CompiledWasm code;
        var source = ModuleSource.Compiled;
        if (cache is null)
        {
            code = CompileBaseline(path, bytes, digest);
        }
        else
        {
            var entry = cache.EntryPath(digest);
            if (cache.TryLoad(entry, WasmKind.CoreModule) is { } cached)
            {
                code = cached;
                source = ModuleSource.DiskCache;
            }
            else
            {
                // The same lock as a Cranelift compile of this module takes: of the shims starting it at once, one compiles.
                using (cache.Lock(digest))
                {
                    if (_cache!.TryLoad(optimizedEntry!, WasmKind.CoreModule) is { } theirs)
                        return (theirs, ModuleSource.DiskCache);
                    if (cache.TryLoad(entry, WasmKind.CoreModule) is { } baseline)
                    {
                        _log.Information("module cache {CacheDir}: {Digest} was compiled by another shim while we waited; loaded it", cache.Directory, digest);
                        code = baseline;
                        source = ModuleSource.DiskCache;
                    }
                    else
                    {
                        code = CompileBaseline(path, bytes, digest);
                        if (code.Tier.Compiler == CompilerTier.Winch)
                            cache.Store(entry, code);
                        else
                            _cache.Store(optimizedEntry!, code);
                    }
                }
                cache.Evict(keep: entry);
            }
        }
        if (code.Tier.Compiler == CompilerTier.Winch)
            _optimizer.Start(path, bytes, digest);
        return (code, source);
    }

    /// <summary>Winch code for <paramref name="bytes"/>; Cranelift's (compiled now) when Winch cannot compile the module.</summary>
    private CompiledWasm CompileBaseline(string path, byte[] bytes, string digest)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        Module module;
        try
        {
            // No separate validation pass (a fifth of Winch's time here): compiling validates, and says what is wrong.
            module = Module.FromBytes(_baseline.Value.Engine, Path.GetFileName(path), bytes);
        }
        catch (WasmtimeException e)
        {
            // Winch leaves out some proposals (GC, exceptions...): such a module, or an invalid one, goes to Cranelift,
            // whose validation names what is wrong.
            _log.Information("module cache: Winch does not compile {Module} ({Error}); compiling it with Cranelift now",
                path, WasmtimeErrors.OneLine(e.Message));
            return Compile(path, bytes, digest, WasmKind.CoreModule);
        }
        Interlocked.Increment(ref _compiles);
        _log.Information("module cache {CacheDir}: compiled {Module} ({Digest}, {Bytes} bytes) with Winch in {Ms} ms; Cranelift follows in the background",
            _cache?.Directory ?? "(none)", path, digest, bytes.Length, (long)System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        return new CompiledWasm(module, _baseline.Value);
    }

    /// <summary>
    /// The optimised build of <paramref name="digest"/>, compiled by this shim or found on disk: it goes to the disk
    /// cache (done by the caller) and replaces the baseline code for the next loads here.
    /// </summary>
    internal void Optimized(string digest, CompiledWasm optimized)
    {
        CompiledWasm? old = null;
        _loaded.AddOrUpdate(digest, optimized, (_, current) =>
        {
            old = current;
            return optimized;
        });
        if (old is not null && !ReferenceEquals(old, optimized))
            _replaced.Add(old);
    }

    /// <summary>
    /// The Cranelift entry of <paramref name="digest"/> is written: its Winch entry is dead weight in the cache (loads
    /// look for Cranelift's first), so it goes rather than waiting for the LRU.
    /// </summary>
    internal void DropBaselineEntry(string digest)
    {
        if (_baselineCache.Value is { } cache)
            cache.Remove(cache.EntryPath(digest));
    }

    /// <summary>Compiles <paramref name="bytes"/> with Cranelift on the calling thread (the optimiser's).</summary>
    internal CompiledWasm CompileOptimized(string path, byte[] bytes)
    {
        var module = Module.FromBytes(_optimizing.Engine, Path.GetFileName(path), bytes);
        Interlocked.Increment(ref _compiles);
        return new CompiledWasm(module, _optimizing);
    }
}
