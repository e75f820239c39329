using System.Collections.Concurrent;

namespace WasmKata.Linux.Processes;

/// <summary>
/// The one thread that spawns every guest host, alive as long as the daemon. A guest host sets
/// <c>PR_SET_PDEATHSIG</c>, which fires when the <em>thread</em> that spawned it ends, not the process: spawned from a
/// thread-pool thread (retired after ~20 s idle) a guest host would be killed with it. Spawns are serialised by
/// <see cref="ChildReaper"/>'s gate anyway, so one thread costs no throughput.
/// </summary>
public static class GuestHostSpawner
{
    /// <summary>The spawner thread's name (not "guest ...": that prefix names guest threads).</summary>
    public const string ThreadName = "wk-host-spawner";

    private static readonly BlockingCollection<Action> s_work = [];
    private static readonly Lazy<Thread> s_thread = new(Start, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>Runs <see cref="GuestHostChild.Spawn"/> on the spawner thread; its exception, if any, comes back in the task.</summary>
    public static Task<GuestHostChild> SpawnAsync(string program, GuestHostFiles files, Func<GuestHostFdNumbers, IReadOnlyList<string>> argv)
    {
        _ = s_thread.Value;
        var spawned = new TaskCompletionSource<GuestHostChild>(TaskCreationOptions.RunContinuationsAsynchronously);
        s_work.Add(() =>
        {
            try
            {
                spawned.SetResult(GuestHostChild.Spawn(program, files, argv));
            }
            catch (Exception e)
            {
                spawned.SetException(e);
            }
        });
        return spawned.Task;
    }

    private static Thread Start()
    {
        var thread = new Thread(() =>
        {
            foreach (var work in s_work.GetConsumingEnumerable())
                work();
        }, 256 * 1024)
        { IsBackground = true, Name = ThreadName };
        thread.UnsafeStart();
        return thread;
    }
}
