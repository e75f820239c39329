using System.Collections.Concurrent;
using System.Diagnostics;
using Xunit;
using Xunit.Abstractions;

namespace WasmKata.Specs.EndToEnd;

/// <summary>
/// Ids reused at once after their delete, as Docker's start/restart do: 8 workers for WASMKATA_SOAK_SECONDS (60 s by
/// default), each re-running the same 3 ids with `ctr run --rm` (each twice in a row, so a start meets the previous daemon
/// still exiting), half a guest that exits at once, half a sleeping guest
/// killed with `ctr task kill`. Then: no failed run, no daemon and no sandbox cgroup left, and a long-lived sibling
/// shim's fd count flat.
/// </summary>
public static class Soak
{
    private const int Workers = 8;
    private const int IdsPerWorker = 3;

    public static TimeSpan Duration =>
        TimeSpan.FromSeconds(int.TryParse(Environment.GetEnvironmentVariable("WASMKATA_SOAK_SECONDS"), out var s) && s > 0 ? s : 60);

    public static async Task RunAsync(ContainerdFixture fixture, ITestOutputHelper output)
    {
        var ctr = fixture.Ctr;
        var quick = await fixture.Images.WasmAsync(new WasmImage("hello"));
        var sleeping = await fixture.Images.WasmAsync(new WasmImage("sleep"));
        await using var sibling = await DetachedContainer.StartAsync(ctr, Ctr.WasmRuntime, sleeping, "soak-sibling", "/app.wasm", "3600");
        var siblingShim = ShimServing(fixture, sibling.Id);
        Assert.True(siblingShim > 0, "no shim serves the sibling container");
        var prefix = ContainerdFixture.NewId("soak");
        // Daemons other specs of the collection left running (a failed one's) are theirs, not the soak's: only daemons
        // that appear during the soak must be gone after it.
        var earlier = fixture.ShimProcesses().ToHashSet();

        // A short warm-up, so that the first use of code paths (which opens nothing per container) is not counted.
        await RunQuickAsync(ctr, quick, prefix + "-warm");
        await Task.Delay(500);
        var fdsBefore = FdCount(siblingShim);

        var runs = 0;
        var failures = new ConcurrentQueue<string>();
        var clock = Stopwatch.StartNew();
        var end = DateTime.UtcNow + Duration;
        var workers = Enumerable.Range(0, Workers).Select(w => Task.Run(async () =>
        {
            for (var i = 0; DateTime.UtcNow < end; i++)
            {
                // Each id twice in a row: the second run's start comes while the first run's daemon is still exiting.
                var id = $"{prefix}-{w}-{i / 2 % IdsPerWorker}";
                var kill = (i + w) % 2 == 1;
                Interlocked.Increment(ref runs);
                try
                {
                    var failure = kill ? await RunKilledAsync(ctr, sleeping, id) : await RunQuickAsync(ctr, quick, id);
                    if (failure is not null)
                        failures.Enqueue($"{id} ({(kill ? "killed" : "quick")}): {failure}");
                }
                catch (Exception e)
                {
                    failures.Enqueue($"{id} ({(kill ? "killed" : "quick")}): {e.GetType().Name}: {e.Message}");
                    await ctr.ForceRemoveAsync(id);
                }
            }
        })).ToList();
        await Task.WhenAll(workers);
        var elapsed = clock.Elapsed;

        // Daemons end within a bounded time of their last Shutdown; give them that.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(6);
        List<int> left;
        while ((left = fixture.ShimProcesses().Where(p => p != siblingShim && !earlier.Contains(p)).ToList()).Count > 0 && DateTime.UtcNow < deadline)
            await Task.Delay(100);
        // Only this soak's sandboxes: other specs of the collection share the namespace (and its cgroup parent).
        var cgroups = SandboxCgroups(ctr.Namespace).Where(c => Path.GetFileName(c).StartsWith(prefix + "-", StringComparison.Ordinal)).ToList();
        var fdsAfter = FdCount(siblingShim);
        var summary = $"{runs} runs in {elapsed.TotalSeconds:F0} s, {failures.Count} failed, {left.Count} daemons left " +
                      $"({earlier.Count(p => p != siblingShim)} other daemons were already running), " +
                      $"{cgroups.Count} sandbox cgroups left, sibling shim fds {fdsBefore} -> {fdsAfter}";
        output.WriteLine(summary);
        foreach (var failure in failures.Take(10))
            output.WriteLine(failure);

        Assert.True(failures.IsEmpty, summary + "\n" + string.Join("\n", failures.Take(10)) + "\n" + fixture.LogTail(40));
        Assert.True(left.Count == 0, summary + ": daemons left " + string.Join(", ", left.Select(Describe)));
        Assert.True(cgroups.Count == 0, summary + ": " + string.Join(", ", cgroups));
        // Flat: a leak of one fd per container would show as hundreds.
        Assert.True(fdsAfter - fdsBefore <= 4, summary);
    }

    private static async Task<string?> RunQuickAsync(Ctr ctr, string image, string id)
    {
        var run = await ctr.RunAsync(Ctr.RunArgs(Ctr.WasmRuntime, image, id, null, "/app.wasm"), timeout: TimeSpan.FromSeconds(30));
        return run.ExitCode == 0 ? null : run.Describe();
    }

    private static async Task<string?> RunKilledAsync(Ctr ctr, string image, string id)
    {
        using var foreground = ctr.Start(Ctr.RunArgs(Ctr.WasmRuntime, image, id, null, "/app.wasm", "3600"));
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!foreground.StdoutSoFar().Contains("sleeping", StringComparison.Ordinal))
        {
            if (foreground.HasExited)
                return "ended before the guest slept: " + (await foreground.WaitAsync(TimeSpan.FromSeconds(5))).Describe();
            if (DateTime.UtcNow > deadline)
            {
                foreground.Kill();
                await ctr.ForceRemoveAsync(id);
                return "the guest did not start within 30 s";
            }

            await Task.Delay(10);
        }

        var kill = await ctr.RunAsync(["task", "kill", "-s", "SIGKILL", id], timeout: TimeSpan.FromSeconds(30));
        var run = await foreground.WaitAsync(TimeSpan.FromSeconds(30));
        if (kill.ExitCode != 0)
            return "kill: " + kill.Describe();
        return run.ExitCode == 137 ? null : run.Describe();
    }

    /// <summary>The pid of the shim whose working directory is the container's bundle.</summary>
    private static int ShimServing(ContainerdFixture fixture, string id)
    {
        var bundle = fixture.BundleDir(id);
        foreach (var pid in fixture.ShimProcesses())
        {
            try
            {
                if (new DirectoryInfo($"/proc/{pid}/cwd").LinkTarget == bundle)
                    return pid;
            }
            catch (IOException)
            {
                // Gone meanwhile.
            }
        }

        return 0;
    }

    private static string Describe(int pid)
    {
        try
        {
            return $"{pid} ({new DirectoryInfo($"/proc/{pid}/cwd").LinkTarget})";
        }
        catch (IOException)
        {
            return pid.ToString();
        }
    }

    /// <summary>fds of a process but the runtime's code files, which .NET opens lazily and keeps.</summary>
    private static int FdCount(int pid) =>
        Directory.GetFileSystemEntries($"/proc/{pid}/fd").Count(fd =>
        {
            try
            {
                var target = new FileInfo(fd).LinkTarget ?? "";
                return !target.EndsWith(".dll", StringComparison.Ordinal) && !target.EndsWith(".so", StringComparison.Ordinal);
            }
            catch (IOException)
            {
                return false;
            }
        });

    /// <summary>cgroups ctr's containers of namespace NS got (/NS/ID in each hierarchy).</summary>
    private static IEnumerable<string> SandboxCgroups(string ns) =>
        (Directory.Exists("/sys/fs/cgroup") ? Directory.GetDirectories("/sys/fs/cgroup") : [])
        .Select(h => Path.Combine(h, ns))
        .Where(Directory.Exists)
        .SelectMany(Directory.GetDirectories);
}

/// <summary>The soak on the collection's containerd (Debian's 1.6).</summary>
[Collection(EndToEndCollection.Name)]
[Trait("Category", "EndToEnd")]
[Trait("Requires", "root")]
[Trait("Runtime", "wasmkata")]
public sealed class SoakSpec(ContainerdFixture fixture, ITestOutputHelper output)
{
    [Fact]
    public Task Reused_ids_must_never_fail_and_leave_no_daemon_cgroup_or_fd_on_containerd_1_6() => Soak.RunAsync(fixture, output);
}

/// <summary>The soak on containerd 2.x.</summary>
[Collection(EndToEndCollection.Name)]
[Trait("Category", "EndToEnd")]
[Trait("Requires", "root")]
[Trait("Runtime", "wasmkata")]
public sealed class Soak2Spec(Containerd2Fixture fixture, ITestOutputHelper output) : IClassFixture<Containerd2Fixture>
{
    [Fact]
    public Task Reused_ids_must_never_fail_and_leave_no_daemon_cgroup_or_fd_on_containerd_2() => Soak.RunAsync(fixture, output);
}
