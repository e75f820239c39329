using System.Collections.Concurrent;
using System.Diagnostics;
using Serilog;
using WasmKata.Linux;
using WasmKata.Linux.Processes;
using Wasmtime;

namespace WasmKata.Engine;

/// <summary>
/// Compiles big modules with Cranelift in the background and writes the code to the disk cache: the module's first
/// start ran Winch code, the starts after it get the optimised code.
/// </summary>
/// <remarks>
/// With a disk cache and <see cref="EngineOptions.CompileProcess"/> (the daemon), each compile is a short-lived process
/// of its own (<c>containerd-shim-wasmkata-v2 compile</c>) outside the pod's cgroup, so the daemon exits with its last
/// container whatever the compile still has to do; the daemon picks the code up from the cache at its next load of
/// the module. Otherwise (specs, no cache) one thread of this process per module. Either way at nice 10 and on one
/// core: the guest that waits for nothing but this is already running. Across shims, an entry's optimising lock
/// (non-blocking) makes one of them compile it; the others leave it to that one.
/// </remarks>
internal sealed class ModuleOptimizer(ModuleLoader loader, EngineOptions options, ILogger log)
{
    // A tenth of a nice-0 thread's CPU weight: the pod's own guests come first, yet on a busy host the compile still
    // ends (at nice 19, 1.5% of the weight, it all but stopped beside a few busy threads).
    internal const int Nice = 10;

    private readonly ConcurrentDictionary<string, Task> _running = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> _processes = new(StringComparer.Ordinal);

    /// <summary>How many compiles run now, on threads of this process or in compile processes it started.</summary>
    public int Pending => _running.Count(r => !r.Value.IsCompleted) + _processes.Count(p => Signals.IsRunning(p.Value));

    /// <summary>Starts the optimising compile of <paramref name="digest"/> unless this shim already runs it.</summary>
    public void Start(string path, byte[] bytes, string digest)
    {
        if (options.CompileProcess is { } launch && loader.Cache is not null)
        {
            StartProcess(launch, path, bytes, digest);
            return;
        }
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_running.TryAdd(digest, done.Task))
            return;
        var thread = new Thread(() =>
        {
            try
            {
                LowerPriority(log);
                if (Optimize(() => loader.CompileOptimized(path, bytes), loader.Cache, loader.BaselineEntryPath(digest), path, digest, log) is { } code)
                    loader.Optimized(digest, code);
            }
            finally
            {
                done.TrySetResult();
            }
        })
        {
            IsBackground = true,
            Name = "wasm-optimize",
        };
        thread.Start();
    }

    /// <summary>Waits up to <paramref name="limit"/> for every compile started (threads and processes); false when some still run.</summary>
    public bool WaitAll(TimeSpan limit)
    {
        var clock = Stopwatch.StartNew();
        if (!WaitAllThreads(limit))
            return false;
        while (_processes.Any(p => Signals.IsRunning(p.Value)))
        {
            if (clock.Elapsed >= limit)
                return false;
            Thread.Sleep(50);
        }
        return true;
    }

    /// <summary>Waits up to <paramref name="limit"/> for the compiles on threads of this process.</summary>
    public bool WaitAllThreads(TimeSpan limit)
    {
        var tasks = _running.Values.Where(t => !t.IsCompleted).ToArray();
        return tasks.Length == 0 || Task.WaitAll(tasks, limit);
    }

    private void StartProcess(Func<CompileRequest, int> launch, string path, byte[] bytes, string digest)
    {
        if (_processes.TryGetValue(digest, out var running) && Signals.IsRunning(running))
            return;
        try
        {
            var pid = launch(new CompileRequest(Path.GetFileName(path), bytes, digest));
            _processes[digest] = pid;
            log.Information("module cache {CacheDir}: compile process {Pid} compiles {Module} ({Digest}) with Cranelift; the next start uses its code",
                loader.Cache!.Directory, pid, path, digest);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            log.Warning("module cache: cannot start the compile process for {Module} ({Digest}): {Error}; starts keep the Winch code",
                path, digest, e.Message);
        }
    }

    /// <summary>Puts the calling thread (and the threads it starts) at nice <see cref="Nice"/>.</summary>
    internal static void LowerPriority(ILogger log)
    {
        try
        {
            ThreadNice.SetNice(Self.GetThreadId(), Nice);
        }
        catch (Exception e) when (e is ArgumentException or IOException)
        {
            log.Warning("module cache: cannot lower the optimiser's priority ({Error}); it compiles at the shim's", e.Message);
        }
    }

    /// <summary>
    /// The optimising compile (<paramref name="compile"/>) of one module into <paramref name="cache"/>, on the calling thread: the code, compiled
    /// or found in the cache; null when another shim holds the module's optimising lock or the compile failed. The
    /// Winch entry (<paramref name="baselineEntry"/>) goes once the Cranelift one is written.
    /// </summary>
    internal static CompiledWasm? Optimize(Func<CompiledWasm> compile, CompileCache? cache, string? baselineEntry, string path, string digest, ILogger log)
    {
        var entry = cache?.EntryPath(digest);
        try
        {
            using var held = cache?.TryLockOptimizing(digest);
            if (cache is not null && held is null)
            {
                log.Information("module cache {CacheDir}: another shim compiles {Digest} with Cranelift; leaving it to that one", cache.Directory, digest);
                return null;
            }
            if (cache is not null && cache.TryLoad(entry!, WasmKind.CoreModule) is { } theirs)
                return theirs;
            var started = Stopwatch.GetTimestamp();
            var cpuNs = ThreadClock.CurrentThreadCpuTimeNs();
            var code = compile();
            if (cache is not null)
            {
                cache.Store(entry!, code);
                if (File.Exists(entry) && baselineEntry is not null)
                    cache.Remove(baselineEntry);
            }
            log.Information("module cache {CacheDir}: compiled {Module} ({Digest}) with Cranelift in the background in {Ms} ms ({CpuMs} ms of CPU); the next start uses it",
                cache?.Directory ?? "(none)", path, digest, (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds,
                (ThreadClock.CurrentThreadCpuTimeNs() - cpuNs) / 1_000_000);
            return code;
        }
        catch (Exception e) when (e is WasmtimeException or IOException or UnauthorizedAccessException)
        {
            log.Warning("module cache: the background Cranelift compile of {Module} ({Digest}) failed: {Error}; starts keep the Winch code",
                path, digest, WasmtimeErrors.OneLine(e.Message));
            return null;
        }
        finally
        {
            if (entry is not null)
                cache!.Evict(keep: entry);
        }
    }
}

/// <summary>What a compile process is handed: the module's file name (for logs), its bytes and their SHA-256.</summary>
public sealed record CompileRequest(string Name, byte[] Bytes, string Digest);
