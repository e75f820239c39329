using System.Globalization;
using WasmKata.Engine;
using WasmKata.Linux.Io;
using WasmKata.Linux.Processes;

namespace WasmKata.Shim.Actions;

/// <summary>The daemon's side of a compile process: spawns <c>containerd-shim-wasmkata-v2 compile</c> for one module.</summary>
internal static class CompileLauncher
{
    /// <summary>Overrides the compile process's time limit (seconds); the default is <see cref="CompileAction.DefaultLimit"/>.</summary>
    public const string LimitEnvironmentVariable = "WASMKATA_COMPILE_LIMIT_SECONDS";

    /// <summary>
    /// Starts the compile process with the module's bytes as fd 3 (a memfd: nothing under the container's rootfs stays
    /// open), in a session of its own, stdio on /dev/null; returns its pid. It is not waited for: the daemon's SIGCHLD
    /// handler reaps it, or init once the daemon is gone.
    /// </summary>
    public static int Launch(string self, EngineOptions options, CompileRequest request)
    {
        var directory = options.ModuleCacheDirectory ?? throw new ArgumentException("a compile process needs the module cache directory", nameof(options));
        using var module = MemoryFile.Create("wasmkata-module", request.Bytes);
        string[] argv =
        [
            self, CompileAction.Name,
            "--name", request.Name,
            "--cache-dir", directory,
            "--cache-max-bytes", Number(options.ModuleCacheMaxBytes),
            "--pooling", options.PoolingAllocator ? "true" : "false",
            "--pooling-instances", Number(options.PoolingMaxInstances),
            "--pooling-max-memory", Number(options.PoolingMaxMemoryBytes),
            "--limit-seconds", Environment.GetEnvironmentVariable(LimitEnvironmentVariable) is { Length: > 0 } limit
                ? limit
                : Number((long)CompileAction.DefaultLimit.TotalSeconds),
        ];
        // Daemon.Spawn hands its socket argument over as fd 3; here that is the module.
        return Daemon.Spawn(self, argv, module, "/");
    }

    private static string Number(long value) => value.ToString(CultureInfo.InvariantCulture);
}
