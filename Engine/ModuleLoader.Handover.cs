using System.Security.Cryptography;
using Microsoft.Win32.SafeHandles;

namespace WasmKata.Engine;

/// <summary>
/// A compile cache entry opened for a guest host (guest_isolation = "process"), checked through this very descriptor.
/// The caller hands the descriptor over and disposes it.
/// </summary>
/// <param name="Handle">The entry, opened read-only by the daemon.</param>
/// <param name="Path">Where the entry is (for logs only: the guest host never sees it).</param>
/// <param name="Digest">The module's SHA-256.</param>
/// <param name="Kind">Core module or component.</param>
/// <param name="Baseline">Whether it holds Winch code (else Cranelift's): the guest host's engine must be of that tier.</param>
public sealed record CompiledEntry(SafeFileHandle Handle, string Path, string Digest, WasmKind Kind, bool Baseline) : IDisposable
{
    /// <inheritdoc/>
    public void Dispose() => Handle.Dispose();
}

// The daemon's side of a guest host's compiled code: the cache entry the guest host deserialises, never compiled there.
internal sealed partial class ModuleLoader
{
    // A Winch entry still being written beside its first guest is waited for this long; past it the guest host compiles.
    private static readonly TimeSpan EntryWriteWait = TimeSpan.FromMinutes(2);

    /// <summary>
    /// The cache entry of the module at <paramref name="path"/> for a guest host: Cranelift's if it is on disk, else
    /// Winch's of a big core module (whose Cranelift compile is started if it is not under way), else the module is
    /// loaded as for a guest thread (compiled, the entry written) and that entry is opened. Each is checked whole
    /// through the descriptor handed over; a damaged one is refused, deleted and rebuilt. Null without a disk cache.
    /// </summary>
    public CompiledEntry? HandOver(string path)
    {
        if (_cache is null)
            return null;
        var bytes = Read(path);
        var kind = CheckHeader(path, bytes);
        var digest = Convert.ToHexStringLower(SHA256.HashData(bytes));
        var tiered = kind == WasmKind.CoreModule && _baselineMinBytes > 0 && bytes.Length >= _baselineMinBytes;
        if (Open(_cache, digest, kind, CompilerTier.Cranelift) is { } optimized)
            return optimized;
        if (tiered && Open(_baselineCache.Value!, digest, kind, CompilerTier.Winch) is { } baseline)
        {
            // As a guest thread's start on a cached Winch entry: the optimising compile (once per digest and host).
            if (!_stores.ContainsKey(digest))
                _optimizer.Start(path, bytes, digest);
            return baseline;
        }

        var (code, _, _) = Load(path);
        var cache = code.Tier.Compiler == CompilerTier.Winch ? _baselineCache.Value! : _cache;
        if (_stores.TryGetValue(digest, out var store) && !store.IsCompleted)
            store.ContinueWith(static _ => { }, TaskScheduler.Default).Wait(EntryWriteWait);
        var entry = cache.EntryPath(digest);
        // Loaded from this shim's memory, its entry evicted or refused since: written again from that code.
        if (!File.Exists(entry))
        {
            using (cache.Lock(digest))
            {
                if (!File.Exists(entry))
                    cache.Store(entry, code);
            }
        }
        return Open(cache, digest, kind, code.Tier.Compiler);
    }

    private CompiledEntry? Open(CompileCache cache, string digest, WasmKind kind, CompilerTier compiler)
    {
        var entry = cache.EntryPath(digest);
        if (cache.OpenChecked(entry, kind) is not { } handle)
            return null;
        _log.Information("module cache {CacheDir}: {Digest} goes to a guest host as its {Compiler} entry {CachePath}",
            cache.Directory, digest, compiler, entry);
        return new CompiledEntry(handle, entry, digest, kind, compiler == CompilerTier.Winch);
    }
}
