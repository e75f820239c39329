using System.Security.Cryptography;
using Serilog;
using Wasmtime;

namespace WasmKata.Engine;

/// <summary>
/// What a compile process (<c>containerd-shim-wasmkata-v2 compile</c>) does: one big module's Cranelift code into the
/// disk cache, under the same locks and with the same engine settings as the daemon that started it.
/// </summary>
public static class CompileProcessWork
{
    /// <summary>
    /// Compiles <paramref name="bytes"/> (named <paramref name="name"/> in logs) on the calling thread and writes the
    /// entry; true when the cache has the module's Cranelift code afterwards (written here or by another shim).
    /// </summary>
    public static bool Run(EngineOptions options, string name, byte[] bytes, ILogger log)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(bytes);
        ArgumentNullException.ThrowIfNull(log);
        var directory = options.ModuleCacheDirectory ?? throw new ArgumentException("a compile process needs the module cache directory", nameof(options));
        // The digest is ours, not the caller's: the entry's name must say what its code was compiled from.
        var digest = Convert.ToHexStringLower(SHA256.HashData(bytes));
        using var tier = EngineTier.Optimizing(options);
        var cache = new CompileCache(tier, directory, options.ModuleCacheMaxBytes, log);
        if (!cache.Prepare())
            return false;
        var baselineEntry = CompileCache.EntryPathFor(directory, EngineTier.SettingsKeyFor(options, CompilerTier.Winch), digest);
        var code = ModuleOptimizer.Optimize(() => new CompiledWasm(Module.FromBytes(tier.Engine, name, bytes), tier), cache, baselineEntry, name, digest, log);
        code?.Dispose();
        return File.Exists(cache.EntryPath(digest));
    }
}
