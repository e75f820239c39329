using System.Diagnostics;
using System.Globalization;
using WasmKata.Core.Hooks;
using WasmKata.Core.Oci;
using WasmKata.Specs.Linux;
using Xunit;
using Xunit.Abstractions;

namespace WasmKata.Specs.Core.Hooks;

[Collection(SerialHooksCollection.Name)]
public sealed class HookThreadsSpec(ITestOutputHelper output) : IDisposable
{
    // x86-64 numbers of the calls a thread would sit in to wait for a child or its pipes: read, write, poll, wait4, waitid.
    private static readonly HashSet<int> s_waitingSyscalls = [0, 1, 7, 61, 247];

    private readonly HookBench _bench = new();

    public void Dispose() => _bench.Dispose();

    [Fact]
    public async Task Fifty_sleeping_hooks_must_not_block_a_thread_each()
    {
        OciHook[] sleep = [new OciHook { Path = "/bin/sleep", Args = ["sleep", "1"], Env = [] }];

        // Warm up: the fd reactor thread and the pool threads a single run needs.
        await HookRunner.RunAsync(HookKind.CreateRuntime, [new OciHook { Path = "/bin/true", Env = [] }], _bench.State()).Within();
        var (threadsBefore, blockedBefore) = (ThreadCount(), ThreadsBlockedWaiting());
        var clock = Stopwatch.StartNew();

        var runs = Enumerable.Range(0, 50).Select(_ => HookRunner.RunAsync(HookKind.CreateRuntime, sleep, _bench.State())).ToList();
        var (threadsPeak, blockedPeak) = (threadsBefore, blockedBefore);
        while (runs.Any(r => !r.IsCompleted))
        {
            threadsPeak = Math.Max(threadsPeak, ThreadCount());
            blockedPeak = Math.Max(blockedPeak, ThreadsBlockedWaiting());
            await Task.Delay(50);
        }

        await Task.WhenAll(runs).Within();
        output.WriteLine($"threads {threadsBefore} -> peak {threadsPeak}; blocked in read/write/poll/wait {blockedBefore} -> peak {blockedPeak}; {clock.Elapsed.TotalMilliseconds:F0} ms");
        // Concurrent, not one after another (that would take 50 s); generous for a loaded 2-core CI box.
        Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(5));
        Assert.InRange(blockedPeak - blockedBefore, 0, 2);

        // The pool may grow to its minimum in a burst of continuations, never to a thread per hook.
        Assert.InRange(threadsPeak - threadsBefore, 0, 25);
    }

    private static int ThreadCount() => Directory.GetDirectories("/proc/self/task").Length;

    private static int ThreadsBlockedWaiting()
    {
        var count = 0;
        foreach (var task in Directory.GetDirectories("/proc/self/task"))
        {
            string syscall;
            try
            {
                syscall = File.ReadAllText(Path.Combine(task, "syscall"));
            }
            catch (IOException)
            {
                continue;
            }

            var number = syscall.Split(' ', 2)[0];
            if (int.TryParse(number, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && s_waitingSyscalls.Contains(n))
                count++;
        }

        return count;
    }
}
