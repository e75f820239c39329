using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Security.Cryptography;
using Serilog;
using Wasmtime;
using Wasmtime.Components;
using WasmtimeEngine = Wasmtime.Engine;

namespace WasmKata.Engine;

/// <summary>Reads, validates and compiles core modules and components, reusing compiled code from memory or from the disk cache.</summary>
/// <remarks>
/// Which of the two a file is comes from its header (the binary version and layer after <c>\0asm</c>), never from
/// its name. Memory entries are keyed by the file's SHA-256; the disk cache (<see cref="CompileCache"/>) by that plus
/// the engine settings, both kinds in one directory. A file new to the disk cache is compiled under its entry's lock,
/// so shims starting the same new module at once compile it once: the others wait, then load what the first one wrote.
/// </remarks>
internal sealed class ModuleLoader : IDisposable
{
    private readonly WasmtimeEngine _engine;
    private readonly CompileCache? _cache;
    private readonly ILogger _log;
    private readonly ConcurrentDictionary<string, CompiledWasm> _loaded = new(StringComparer.Ordinal);
    private long _compiles;

    public ModuleLoader(WasmtimeEngine engine, string? cacheDirectory, long cacheMaxBytes, string engineSettings, ILogger log)
    {
        _engine = engine;
        _log = log;
        if (cacheDirectory is not null)
        {
            var cache = new CompileCache(engine, cacheDirectory, cacheMaxBytes, engineSettings, log);
            _cache = cache.Prepare() ? cache : null;
        }
    }

    /// <summary>How many modules and components this loader compiled (not found in memory or on disk).</summary>
    public long Compiles => Interlocked.Read(ref _compiles);

    internal CompileCache? Cache => _cache;

    public (CompiledWasm Code, string Digest, ModuleSource Source) Load(string path)
    {
        var bytes = Read(path);
        var kind = CheckHeader(path, bytes);
        var digest = Convert.ToHexStringLower(SHA256.HashData(bytes));
        if (_loaded.TryGetValue(digest, out var known))
        {
            _cache?.Touch(_cache.EntryPath(digest));
            return (known, digest, ModuleSource.MemoryCache);
        }

        var (code, source) = _cache is null ? (Compile(path, bytes, digest, kind), ModuleSource.Compiled) : LoadThroughCache(_cache, path, bytes, digest, kind);

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
        var code = kind == WasmKind.Component ? CompileComponent(path, bytes) : new CompiledWasm(CompileModule(path, bytes));
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
            return new CompiledWasm(Component.FromBytes(_engine, bytes));
        }
        catch (WasmtimeException e)
        {
            throw new InvalidModuleException(path, $"component compilation failed: {WasmtimeErrors.OneLine(e.Message)}", e);
        }
    }

    private Module CompileModule(string path, byte[] bytes)
    {
        var error = Module.Validate(_engine, bytes);
        if (error is not null)
            throw new InvalidModuleException(path, $"validation error: {error.Trim()}");
        try
        {
            return Module.FromBytes(_engine, Path.GetFileName(path), bytes);
        }
        catch (WasmtimeException e)
        {
            throw new InvalidModuleException(path, $"compilation failed: {e.Message.Trim()}", e);
        }
    }
}
