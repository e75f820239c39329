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
                var held = cache.Lock(digest);
                try
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
                        if (code.Tier.Compiler != CompilerTier.Winch)
                        {
                            _cache.Store(optimizedEntry!, code);
                        }
                        else
                        {
                            // The guest starts now; the entry (117 MB for Yosys, ~0.6 s to serialize, hash, write and
                            // fsync here) is written beside it, the lock held until it is there.
                            StoreBaselineThenOptimize(cache, entry, code, held, path, bytes, digest);
                            held = null;
                            return (code, source);
                        }
                    }
                }
                finally
                {
                    held?.Dispose();
                }
                cache.Evict(keep: entry);
            }
        }
        if (code.Tier.Compiler == CompilerTier.Winch)
            _optimizer.Start(path, bytes, digest);
        return (code, source);
    }

    /// <summary>
    /// Writes the Winch entry on a thread of its own, releases the compile lock, then starts the optimising compile:
    /// it begins once the guest runs, so it does not compete with the Winch compile or the write for the cores.
    /// </summary>
    private void StoreBaselineThenOptimize(CompileCache cache, string entry, CompiledWasm code, Linux.Io.FileLock? held, string path, byte[] bytes, string digest)
    {
        var store = new Task(() =>
        {
            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            try
            {
                cache.Store(entry, code);
            }
            finally
            {
                held?.Dispose();
            }
            _log.Information("module cache {CacheDir}: wrote the Winch entry of {Digest} in {Ms} ms, beside the guest",
                cache.Directory, digest, (long)System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            cache.Evict(keep: entry);
            _optimizer.Start(path, bytes, digest);
        }, TaskCreationOptions.LongRunning);
        _stores[digest] = store;
        store.Start();
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
    /// Where the Winch entry of <paramref name="digest"/> is: dead weight in the cache once the Cranelift entry is
    /// written (loads look for Cranelift's first), so it goes then rather than waiting for the LRU.
    /// </summary>
    internal string? BaselineEntryPath(string digest) => _baselineCache.Value?.EntryPath(digest);

    /// <summary>Compiles <paramref name="bytes"/> with Cranelift on the calling thread (the optimiser's).</summary>
    internal CompiledWasm CompileOptimized(string path, byte[] bytes)
    {
        var module = Module.FromBytes(_optimizing.Engine, Path.GetFileName(path), bytes);
        Interlocked.Increment(ref _compiles);
        return new CompiledWasm(module, _optimizing);
    }
}
