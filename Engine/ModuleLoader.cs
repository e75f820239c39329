using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Security.Cryptography;
using Serilog;
using Wasmtime;
using WasmtimeEngine = Wasmtime.Engine;

namespace WasmKata.Engine;

/// <summary>Reads, validates and compiles modules, reusing compiled code from memory or from the disk cache.</summary>
/// <remarks>
/// Memory entries are keyed by the module's SHA-256, disk entries by that plus the engine settings. Cache files carry
/// a checksum, so a torn or corrupt entry is detected before Wasmtime trusts it, and is then recompiled and rewritten.
/// </remarks>
internal sealed class ModuleLoader : IDisposable
{
    private const int HeaderLength = 8 + 32;

    private readonly WasmtimeEngine _engine;
    private readonly string? _cacheDirectory;
    private readonly string _settingsKey;
    private readonly ILogger _log;
    private readonly ConcurrentDictionary<string, Module> _loaded = new(StringComparer.Ordinal);

    public ModuleLoader(WasmtimeEngine engine, string? cacheDirectory, string engineSettings, ILogger log)
    {
        _engine = engine;
        _cacheDirectory = cacheDirectory;
        _settingsKey = Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(engineSettings)))[..16];
        _log = log;
    }

    private static ReadOnlySpan<byte> CacheMagic => "WKCWASM1"u8;

    public (Module Module, string Digest, ModuleSource Source) Load(string path)
    {
        var bytes = Read(path);
        CheckHeader(path, bytes);
        var digest = Convert.ToHexStringLower(SHA256.HashData(bytes));
        if (_loaded.TryGetValue(digest, out var known))
            return (known, digest, ModuleSource.MemoryCache);

        var cachePath = _cacheDirectory is null ? null : Path.Combine(_cacheDirectory, $"{digest}-{_settingsKey}.cwasm");
        var source = ModuleSource.DiskCache;
        var module = cachePath is null ? null : TryReadCache(cachePath);
        if (module is null)
        {
            module = Compile(path, bytes);
            source = ModuleSource.Compiled;
            if (cachePath is not null)
                TryWriteCache(cachePath, module);
        }

        // Two threads loading the same new module both compile; the first one in wins and the other is dropped.
        var winner = _loaded.GetOrAdd(digest, module);
        if (!ReferenceEquals(winner, module))
        {
            module.Dispose();
            return (winner, digest, ModuleSource.MemoryCache);
        }
        return (module, digest, source);
    }

    public void Dispose()
    {
        foreach (var module in _loaded.Values)
            module.Dispose();
        _loaded.Clear();
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

    private static void CheckHeader(string path, ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length == 0)
            throw new InvalidModuleException(path, "not a WebAssembly module (the file is empty)");
        if (bytes.Length < 8 || !bytes[..4].SequenceEqual("\0asm"u8))
            throw new InvalidModuleException(path, "not a WebAssembly module (no \\0asm header)");
        var version = BinaryPrimitives.ReadUInt16LittleEndian(bytes[4..]);
        var layer = BinaryPrimitives.ReadUInt16LittleEndian(bytes[6..]);
        if (layer == 1)
            throw new InvalidModuleException(path, "a WebAssembly component, not a core module (only WASI preview 1 core modules are supported)");
        if (version != 1 || layer != 0)
            throw new InvalidModuleException(path, $"unsupported WebAssembly binary version {version} (layer {layer})");
    }

    private Module Compile(string path, byte[] bytes)
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

    private Module? TryReadCache(string cachePath)
    {
        byte[] file;
        try
        {
            file = File.ReadAllBytes(cachePath);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _log.Warning("module cache: cannot read {CachePath}: {Error}; compiling instead", cachePath, e.Message);
            return null;
        }

        var span = file.AsSpan();
        if (span.Length < HeaderLength || !span[..8].SequenceEqual(CacheMagic)
            || !SHA256.HashData(span[HeaderLength..]).AsSpan().SequenceEqual(span[8..HeaderLength]))
        {
            _log.Warning("module cache: {CachePath} is corrupt; recompiling and rewriting it", cachePath);
            return null;
        }
        try
        {
            return Module.Deserialize(_engine, Path.GetFileNameWithoutExtension(cachePath), span[HeaderLength..]);
        }
        catch (WasmtimeException e)
        {
            _log.Warning("module cache: {CachePath} does not load ({Error}); recompiling and rewriting it", cachePath, e.Message);
            return null;
        }
    }

    private void TryWriteCache(string cachePath, Module module)
    {
        var temp = $"{cachePath}.{Guid.NewGuid():N}.tmp";
        try
        {
            var payload = module.Serialize();
            // Owner-only: whoever can write here can make the shim run their native code.
            Directory.CreateDirectory(Path.GetDirectoryName(cachePath)!, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                stream.Write(CacheMagic);
                stream.Write(SHA256.HashData(payload));
                stream.Write(payload);
                stream.Flush(flushToDisk: true);
            }
            // rename(2) replaces atomically: a concurrent reader sees the old entry or the new one, never a torn one.
            File.Move(temp, cachePath, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or WasmtimeException)
        {
            _log.Warning("module cache: cannot write {CachePath}: {Error}", cachePath, e.Message);
            try
            {
                File.Delete(temp);
            }
            catch (Exception cleanup) when (cleanup is IOException or UnauthorizedAccessException)
            {
                _log.Debug("module cache: cannot remove {Temp}: {Error}", temp, cleanup.Message);
            }
        }
    }
}
