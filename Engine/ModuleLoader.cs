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
/// its name. Memory entries are keyed by the file's SHA-256, disk entries by that plus the engine settings; both kinds
/// share the cache directory, told apart by the entry's magic. Cache files carry a checksum, so a torn or corrupt
/// entry is detected before Wasmtime trusts it, and is then recompiled and rewritten.
/// </remarks>
internal sealed class ModuleLoader : IDisposable
{
    private const int HeaderLength = 8 + 32;

    private readonly WasmtimeEngine _engine;
    private readonly string? _cacheDirectory;
    private readonly string _settingsKey;
    private readonly ILogger _log;
    private readonly ConcurrentDictionary<string, CompiledWasm> _loaded = new(StringComparer.Ordinal);

    public ModuleLoader(WasmtimeEngine engine, string? cacheDirectory, string engineSettings, ILogger log)
    {
        _engine = engine;
        _cacheDirectory = cacheDirectory;
        _settingsKey = Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(engineSettings)))[..16];
        _log = log;
    }

    private static ReadOnlySpan<byte> CacheMagic => "WKCWASM1"u8;

    private static ReadOnlySpan<byte> ComponentCacheMagic => "WKCCOMP1"u8;

    public (CompiledWasm Code, string Digest, ModuleSource Source) Load(string path)
    {
        var bytes = Read(path);
        var kind = CheckHeader(path, bytes);
        var digest = Convert.ToHexStringLower(SHA256.HashData(bytes));
        if (_loaded.TryGetValue(digest, out var known))
            return (known, digest, ModuleSource.MemoryCache);

        var cachePath = _cacheDirectory is null ? null : Path.Combine(_cacheDirectory, $"{digest}-{_settingsKey}.cwasm");
        var source = ModuleSource.DiskCache;
        var code = cachePath is null ? null : TryReadCache(cachePath, kind);
        if (code is null)
        {
            code = kind == WasmKind.Component ? CompileComponent(path, bytes) : new CompiledWasm(Compile(path, bytes));
            source = ModuleSource.Compiled;
            if (cachePath is not null)
                TryWriteCache(cachePath, code);
        }

        // Two threads loading the same new module both compile; the first one in wins and the other is dropped.
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

    // A core module is version 1, layer 0; a component (the component model's binary format) is version 0x0d, layer 1.
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

    private CompiledWasm? TryReadCache(string cachePath, WasmKind kind)
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
        var magic = kind == WasmKind.Component ? ComponentCacheMagic : CacheMagic;
        if (span.Length < HeaderLength || !span[..8].SequenceEqual(magic)
            || !SHA256.HashData(span[HeaderLength..]).AsSpan().SequenceEqual(span[8..HeaderLength]))
        {
            _log.Warning("module cache: {CachePath} is corrupt; recompiling and rewriting it", cachePath);
            return null;
        }
        try
        {
            return kind == WasmKind.Component
                ? new CompiledWasm(Component.Deserialize(_engine, span[HeaderLength..]))
                : new CompiledWasm(Module.Deserialize(_engine, Path.GetFileNameWithoutExtension(cachePath), span[HeaderLength..]));
        }
        catch (WasmtimeException e)
        {
            _log.Warning("module cache: {CachePath} does not load ({Error}); recompiling and rewriting it", cachePath, e.Message);
            return null;
        }
    }

    private void TryWriteCache(string cachePath, CompiledWasm code)
    {
        var temp = $"{cachePath}.{Guid.NewGuid():N}.tmp";
        try
        {
            var payload = code.Component is { } component ? component.Serialize() : code.Module!.Serialize();
            // Owner-only: whoever can write here can make the shim run their native code.
            Directory.CreateDirectory(Path.GetDirectoryName(cachePath)!, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                stream.Write(code.Kind == WasmKind.Component ? ComponentCacheMagic : CacheMagic);
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
