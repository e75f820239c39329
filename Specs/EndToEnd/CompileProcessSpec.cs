using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using WasmKata.Specs.Linux;
using Xunit;
using Xunit.Abstractions;

namespace WasmKata.Specs.EndToEnd;

/// <summary>
/// A big module's Cranelift compile is a process of its own: the daemon of its first start exits with its last
/// container while the compile still runs (in its own cgroup, not the pod's), the compile writes the cache entry and
/// leaves nothing behind, and the next start loads that entry.
/// </summary>
[Collection(EndToEndCollection.Name)]
[Trait("Category", "EndToEnd")]
[Trait("Requires", "root")]
[Trait("Runtime", "wasmkata")]
public sealed class CompileProcessSpec(ContainerdFixture fixture, ITestOutputHelper output)
{
    // The daemon waits for the Winch entry's write (~1 s here) and then has DrainHardLimit (5 s) at most.
    private static readonly TimeSpan DaemonExitLimit = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan CompileLimit = TimeSpan.FromMinutes(6);

    private Ctr Ctr => fixture.Ctr;

    [Fact]
    public async Task The_daemon_must_exit_with_its_last_container_while_the_compile_process_writes_the_Cranelift_entry()
    {
        var fetch = await ChildProcess.RunAsync("bash", [fixture.ScriptPath("deps.sh"), "yosys"], TimeSpan.FromMinutes(5));
        Assert.True(fetch.ExitCode == 0, "deps.sh yosys failed: " + fetch.Describe());
        var root = fetch.StdoutText.Trim();
        var digest = Convert.ToHexStringLower(SHA256.HashData(await File.ReadAllBytesAsync(Path.Combine(root, "yosys.wasm"))));
        var image = await fixture.Images.TreeAsync("yosys-version", root, new Dictionary<string, string>(), "/", "/yosys.wasm");
        var cache = Path.Combine(fixture.RunDir, "cache-compile-" + Guid.NewGuid().ToString("N")[..8]);
        var config = cache + ".toml";
        await File.WriteAllTextAsync(config, $"[wasmkata.engine]\ncompile_cache_dir = \"{cache}\"\n");
        var before = fixture.ShimProcesses().ToHashSet();
        var compilesBefore = CompileProcesses().ToHashSet();
        try
        {
            await CheckAsync(image, config, cache, digest, before, compilesBefore);
        }
        finally
        {
            // A failed run leaves no compile process behind: SIGTERM makes it remove its cgroup and exit.
            foreach (var pid in CompileProcesses().Where(pid => !compilesBefore.Contains(pid)))
                _ = Libc.Kill(pid, 15);
        }
    }

    private async Task CheckAsync(string image, string config, string cache, string digest, HashSet<int> before, HashSet<int> compilesBefore)
    {

        // First start, empty cache: Winch code. The task stays (stopped) until it is deleted, and so does its daemon.
        var id = ContainerdFixture.NewId("compile-proc");
        var run = await Ctr.RunAsync(Ctr.RunArgs(Ctr.WasmRuntime, image, id, ["-d", "--runtime-config-path", config], "/yosys.wasm", "-V"));
        Assert.True(run.ExitCode == 0, Ctr.Explain(run));
        await Ctr.WaitForTaskStatusAsync(id, "STOPPED", TimeSpan.FromMinutes(3));
        var daemon = Assert.Single(fixture.ShimProcesses(), pid => !before.Contains(pid));
        var compile = await WaitForAsync(() => CompileProcesses().Where(pid => !compilesBefore.Contains(pid)).Cast<int?>().FirstOrDefault(), TimeSpan.FromSeconds(30), "no compile process started");

        // Its cgroup is its own, at each hierarchy's root, not the pod's (which goes with the last container); it moves
        // itself there first thing.
        var own = $"/wasmkata-compile-{compile}";
        await WaitForAsync(() => CpuCgroup(compile) == own ? compile : null, TimeSpan.FromSeconds(10), $"compile process {compile} is in {CpuCgroup(compile)}, not {own}");
        Assert.NotEqual(own, CpuCgroup(daemon));
        Assert.Equal("10", Field(compile, 19)); // nice

        var delete = await Ctr.RunAsync("task", "delete", id);
        Assert.True(delete.ExitCode == 0, Ctr.Explain(delete));
        var rm = await Ctr.RunAsync("c", "rm", id);
        Assert.True(rm.ExitCode == 0, Ctr.Explain(rm));
        var clock = Stopwatch.StartNew();
        while (Directory.Exists($"/proc/{daemon}") && Field(daemon, 3) != "Z")
        {
            Assert.True(clock.Elapsed < DaemonExitLimit, $"daemon {daemon} still there {DaemonExitLimit.TotalSeconds:F0} s after its last container was deleted\n{fixture.LogTail(40)}");
            await Task.Delay(50);
        }
        output.WriteLine($"daemon {daemon} gone {clock.Elapsed.TotalMilliseconds:F0} ms after the container's delete");
        Assert.True(Alive(compile), "the compile process ended before the daemon did: this run checked nothing about lingering");

        clock.Restart();
        while (Alive(compile))
        {
            Assert.True(clock.Elapsed < CompileLimit, $"compile process {compile} still runs after {CompileLimit}");
            await Task.Delay(500);
        }
        output.WriteLine($"compile process {compile} ended {clock.Elapsed.TotalSeconds:F1} s after the daemon");
        var log = await File.ReadAllTextAsync(Path.Combine(cache, "compile.log"));
        output.WriteLine(log);
        Assert.Contains($"({digest}) with Cranelift in the background", log, StringComparison.Ordinal);
        Assert.Single(Directory.GetFiles(cache, digest + "-*.cwasm"));
        Assert.Empty(LeftCgroups(compile));
        Assert.DoesNotContain(fixture.ShimProcesses(), pid => !before.Contains(pid));

        // The next start, in a new daemon, loads the Cranelift entry.
        var nextId = ContainerdFixture.NewId("compile-next");
        var next = await Ctr.RunAsync(Ctr.RunArgs(Ctr.WasmRuntime, image, nextId, ["--rm", "--runtime-config-path", config], "/yosys.wasm", "-V"));
        Assert.True(next.ExitCode == 0 && next.StdoutText.Contains("Yosys", StringComparison.Ordinal), Ctr.Explain(next));
        Assert.True(LogLines(digest, nextId, "starts on its", "Cranelift", "DiskCache") == 1, $"the next start did not load Cranelift's code\n{fixture.LogTail(60)}");
    }

    [Fact]
    public async Task A_compile_process_past_its_time_limit_must_log_that_it_was_killed_and_leave_no_cgroup()
    {
        var fetch = await ChildProcess.RunAsync("bash", [fixture.ScriptPath("deps.sh"), "yosys"], TimeSpan.FromMinutes(5));
        Assert.True(fetch.ExitCode == 0, "deps.sh yosys failed: " + fetch.Describe());
        var module = Path.Combine(fetch.StdoutText.Trim(), "yosys.wasm");
        var cache = Directory.CreateDirectory(Path.Combine(fixture.RunDir, "cache-limit-" + Guid.NewGuid().ToString("N")[..8])).FullName;
        var shim = Path.Combine(fixture.ShimDir, ContainerdFixture.ShimBinary);

        // As the daemon starts it, with the module as fd 3 (a file here, a memfd there) and a limit of 1 s.
        var clock = Stopwatch.StartNew();
        var run = await ChildProcess.RunAsync("bash",
            ["-c", "exec \"$0\" compile --name yosys.wasm --cache-dir \"$2\" --cache-max-bytes 1073741824 --pooling false " +
                "--pooling-instances 1000 --pooling-max-memory 4294967296 --limit-seconds 1 3<\"$1\"", shim, module, cache],
            TimeSpan.FromMinutes(2));

        Assert.True(run.ExitCode == 124, "the compile process did not end as killed: " + run.Describe());
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"the compile process ran {clock.Elapsed} with a 1 s limit");
        var log = await File.ReadAllTextAsync(Path.Combine(cache, "compile.log"));
        Assert.Contains("the Cranelift compile of yosys.wasm passed its limit of 1 s; killed, starts keep the Winch code", log, StringComparison.Ordinal);
        var pid = int.Parse(System.Text.RegularExpressions.Regex.Match(log, @"wasmkata\[(\d+)\]").Groups[1].Value, CultureInfo.InvariantCulture);
        Assert.Empty(LeftCgroups(pid));
        Assert.Empty(Directory.GetFiles(cache, "*.cwasm"));
    }

    // Processes named wasmkata-opt (the compile action names itself so).
    private static IEnumerable<int> CompileProcesses() =>
        Directory.EnumerateDirectories("/proc")
            .Select(Path.GetFileName)
            .Where(name => name!.All(char.IsAsciiDigit))
            .Select(name => int.Parse(name!, CultureInfo.InvariantCulture))
            .Where(pid => Comm(pid) == "wasmkata-opt" && Field(pid, 3) != "Z");

    // The process's cgroup in the cpu hierarchy (v1) or the unified one.
    private static string CpuCgroup(int pid)
    {
        try
        {
            return File.ReadAllLines($"/proc/{pid}/cgroup")
                .Select(line => line.Split(':', 3))
                .Where(f => f[1].Split(',').Contains("cpu") || f[0] == "0")
                .OrderBy(f => f[0] == "0" ? 1 : 0)
                .Select(f => f[2])
                .FirstOrDefault() ?? "";
        }
        catch (IOException)
        {
            return "";
        }
    }

    private static IEnumerable<string> LeftCgroups(int pid) =>
        Directory.GetDirectories("/sys/fs/cgroup").Select(h => Path.Combine(h, $"wasmkata-compile-{pid}")).Where(Directory.Exists);

    private static bool Alive(int pid) => Directory.Exists($"/proc/{pid}") && Field(pid, 3) is not ("Z" or "");

    private static string Comm(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/comm").Trim();
        }
        catch (IOException)
        {
            return "";
        }
    }

    // Field N (1-based, as proc(5) counts) of /proc/PID/stat; "" when the process is gone.
    private static string Field(int pid, int n)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[n - 3];
        }
        catch (IOException)
        {
            return "";
        }
    }

    private static async Task<int> WaitForAsync(Func<int?> probe, TimeSpan limit, string failure)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (probe() is { } found)
                return found;
            Assert.True(clock.Elapsed < limit, failure);
            await Task.Delay(50);
        }
    }

    private int LogLines(params string[] parts)
    {
        using var stream = new FileStream(fixture.LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream);
        var count = 0;
        while (reader.ReadLine() is { } line)
        {
            if (parts.All(part => line.Contains(part, StringComparison.Ordinal)))
                count++;
        }
        return count;
    }
}
