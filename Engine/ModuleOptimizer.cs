using System.Collections.Concurrent;
using System.Diagnostics;
using Serilog;
using WasmKata.Linux;
using Wasmtime;

namespace WasmKata.Engine;

/// <summary>
/// Compiles big modules with Cranelift in the background, one thread per module at nice 10, and writes the code to
/// the disk cache: the module's first start ran Winch code, the starts after it get the optimised code.
/// </summary>
/// <remarks>
/// One thread and a low priority, because the guest that waits for nothing but this is already running: the compile
/// takes what the guests of this pod (its cgroup: the shim's threads are in it) and of other pods leave, and
/// Wasmtime's parallel compilation, which would spread it over every core, stays off. Across shims, an entry's
/// optimising lock (non-blocking) makes one of them compile it; the others leave it to that one. A daemon whose last
/// container went waits for the compile before it exits (<see cref="WaitAll"/>), bounded by its caller.
/// </remarks>
internal sealed class ModuleOptimizer(ModuleLoader loader, ILogger log)
{
    // A tenth of a nice-0 thread's CPU weight: the pod's own guests come first, yet on a busy host the compile still
    // ends (at nice 19, 1.5% of the weight, it all but stopped beside a few busy threads).
    internal const int Nice = 10;

    private readonly ConcurrentDictionary<string, Task> _running = new(StringComparer.Ordinal);

    /// <summary>How many compiles run now.</summary>
    public int Pending => _running.Count(r => !r.Value.IsCompleted);

    /// <summary>Starts the optimising compile of <paramref name="digest"/> unless this shim already runs it.</summary>
    public void Start(string path, byte[] bytes, string digest)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_running.TryAdd(digest, done.Task))
            return;
        var thread = new Thread(() =>
        {
            try
            {
                Optimize(path, bytes, digest);
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

    /// <summary>Waits up to <paramref name="limit"/> for every compile started; false when some still run.</summary>
    public bool WaitAll(TimeSpan limit)
    {
        var tasks = _running.Values.Where(t => !t.IsCompleted).ToArray();
        return tasks.Length == 0 || Task.WaitAll(tasks, limit);
    }

    private void Optimize(string path, byte[] bytes, string digest)
    {
        try
        {
            ThreadNice.SetNice(Self.GetThreadId(), Nice);
        }
        catch (Exception e) when (e is ArgumentException or IOException)
        {
            log.Warning("module cache: cannot lower the optimiser's priority ({Error}); it compiles at the shim's", e.Message);
        }

        var cache = loader.Cache;
        var entry = cache?.EntryPath(digest);
        try
        {
            using var held = cache?.TryLockOptimizing(digest);
            if (cache is not null && held is null)
            {
                log.Information("module cache {CacheDir}: another shim compiles {Digest} with Cranelift; leaving it to that one", cache.Directory, digest);
                return;
            }
            if (cache is not null && cache.TryLoad(entry!, WasmKind.CoreModule) is { } theirs)
            {
                loader.Optimized(digest, theirs);
                return;
            }
            var started = Stopwatch.GetTimestamp();
            var cpuNs = ThreadClock.CurrentThreadCpuTimeNs();
            var code = loader.CompileOptimized(path, bytes);
            if (cache is not null)
            {
                cache.Store(entry!, code);
                if (File.Exists(entry))
                    loader.DropBaselineEntry(digest);
            }
            loader.Optimized(digest, code);
            log.Information("module cache {CacheDir}: compiled {Module} ({Digest}) with Cranelift in the background in {Ms} ms ({CpuMs} ms of CPU); the next start uses it",
                cache?.Directory ?? "(none)", path, digest, (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds,
                (ThreadClock.CurrentThreadCpuTimeNs() - cpuNs) / 1_000_000);
        }
        catch (Exception e) when (e is WasmtimeException or IOException or UnauthorizedAccessException)
        {
            log.Warning("module cache: the background Cranelift compile of {Module} ({Digest}) failed: {Error}; starts keep the Winch code",
                path, digest, WasmtimeErrors.OneLine(e.Message));
        }
        if (entry is not null)
            cache!.Evict(keep: entry);
    }
}
