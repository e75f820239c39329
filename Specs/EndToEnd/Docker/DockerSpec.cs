using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Xunit;
using Xunit.Abstractions;

namespace WasmKata.Specs.EndToEnd.Docker;

/// <summary>
/// What a Docker user does with a wasm container, through a real dockerd and docker CLI: run, logs, exec, top, stats,
/// stop and a restart policy. The derived classes run it on each Debian suite's docker and containerd.
/// </summary>
public abstract partial class DockerSpec(DockerFixture fixture, ITestOutputHelper output)
{
    // The init process sleeps; /bin/exitcode.wasm is a second program to exec.
    private static readonly WasmImage Sleeper = new("sleep")
    {
        Guests = new Dictionary<string, string> { ["/bin/exitcode.wasm"] = "exitcode" },
    };

    private DockerCli Docker => fixture.Docker;

    /// <summary>How the suite's docker version starts (the README's compatibility table names it).</summary>
    protected abstract string DockerVersionPrefix { get; }

    /// <summary>How the version of the containerd under it starts.</summary>
    protected abstract string ContainerdVersionPrefix { get; }

    [Fact]
    public async Task The_daemon_must_be_the_suites_docker_on_its_containerd()
    {
        var versions = await Docker.OutputAsync("version", "--format", "{{.Client.Version}} {{.Server.Version}}");
        var containerd = await Docker.OutputAsync("info", "--format", "{{.ContainerdCommit.ID}}");
        var containerdVersion = await ChildProcess.RunAsync(
            Path.Combine(((FetchedContainerdFixture)fixture.Containerd).BinDir, "containerd"), ["--version"], TimeSpan.FromSeconds(10));
        output.WriteLine($"docker {versions}; {containerdVersion.StdoutText.Trim()}; dockerd sees containerd {containerd}");

        Assert.True(versions.Split(' ').All(v => v.StartsWith(DockerVersionPrefix, StringComparison.Ordinal)),
            $"{fixture.Suite}'s docker is now {versions}, not {DockerVersionPrefix}*: update README.md's compatibility table and this spec");
        Assert.True(containerdVersion.StdoutText.Contains(" " + ContainerdVersionPrefix, StringComparison.Ordinal) ||
                    containerdVersion.StdoutText.Contains(" v" + ContainerdVersionPrefix, StringComparison.Ordinal),
            $"{fixture.Suite}'s containerd is now {containerdVersion.StdoutText.Trim()}: update README.md's compatibility table and this spec");
    }

    [Fact]
    public async Task Run_must_print_the_guests_output_and_exit_with_its_status()
    {
        var hello = await fixture.ImageAsync(new WasmImage("hello"));
        var exitcode = await fixture.ImageAsync(new WasmImage("exitcode"));

        var run = await Docker.RunAsync("run", "--rm", "--runtime", DockerFixture.Runtime, hello);
        var failing = await Docker.RunAsync("run", "--rm", "--runtime", DockerFixture.Runtime, exitcode, "7");

        Assert.True(run.ExitCode == 0 && run.StdoutText == "hello from wasm\n", Docker.Explain(run));
        Assert.True(failing.ExitCode == 7 && failing.StdoutText == "exiting with 7\n", Docker.Explain(failing));
    }

    [Fact]
    public async Task A_detached_container_must_show_its_logs_exec_top_and_stats_and_stop_on_sigterm()
    {
        var image = await fixture.ImageAsync(Sleeper);
        var id = await Docker.OutputAsync("run", "-d", "--runtime", DockerFixture.Runtime, image, "3600");
        try
        {
            await Docker.WaitForAsync(id, "{{.State.Status}}", "running", TimeSpan.FromSeconds(10));
            await WaitForLogAsync(id, "sleeping\n");

            var exec = await Docker.RunAsync("exec", id, "/app.wasm", "0");
            var failing = await Docker.RunAsync("exec", id, "/bin/exitcode.wasm", "7");
            Assert.True(exec.ExitCode == 0 && exec.StdoutText == "sleeping\n", Docker.Explain(exec));
            Assert.True(failing.ExitCode == 7 && failing.StdoutText == "exiting with 7\n", Docker.Explain(failing));

            // A guest is a thread of the shim daemon: top shows the daemon, once for the one live guest (init).
            var daemon = ThreadGroupOf(int.Parse(await Docker.InspectAsync(id, "{{.State.Pid}}"), CultureInfo.InvariantCulture));
            var top = await Docker.RunAsync("top", id);
            Assert.True(top.ExitCode == 0, Docker.Explain(top));
            var rows = top.StdoutText.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1)
                .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries)).ToList();
            Assert.True(rows.Count == 1 && rows[0][1] == daemon.ToString(CultureInfo.InvariantCulture),
                $"expected one row for the shim daemon {daemon}:\n" + Docker.Explain(top));

            var stats = await StatsAsync(id);
            Assert.True(stats.MemoryBytes > 0, $"memory usage {stats.Line}");
            Assert.True(stats.Pids > 0, $"pids {stats.Line}");
            await AssertDaemonAliveAsync();

            var clock = Stopwatch.StartNew();
            var stop = await Docker.RunAsync("stop", "-t", "10", id);
            Assert.True(stop.ExitCode == 0, Docker.Explain(stop));
            // 143: SIGTERM ended the guest; 137 would be the SIGKILL dockerd sends when the timeout runs out.
            Assert.Equal("exited 143", await Docker.InspectAsync(id, "{{.State.Status}} {{.State.ExitCode}}"));
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"docker stop took {clock.Elapsed.TotalSeconds:F1} s");
        }
        finally
        {
            await Docker.ForceRemoveAsync(id);
        }
    }

    [Fact]
    public async Task Stats_must_show_a_spinning_guests_cpu_and_leave_dockerd_running()
    {
        var image = await fixture.ImageAsync(new WasmImage("spin"));
        var id = await Docker.OutputAsync("run", "-d", "--runtime", DockerFixture.Runtime, image);
        try
        {
            await WaitForLogAsync(id, "spinning\n");

            var stats = await StatsAsync(id);
            output.WriteLine(stats.Line);

            Assert.True(stats.CpuPercent > 5, $"cpu {stats.Line}");
            Assert.True(stats.MemoryBytes > 0, $"memory usage {stats.Line}");
            await AssertDaemonAliveAsync();
        }
        finally
        {
            await Docker.ForceRemoveAsync(id);
        }
    }

    [Fact]
    public async Task Restart_policy_on_failure_2_must_restart_a_failing_guest_twice_then_leave_it_exited()
    {
        var image = await fixture.ImageAsync(new WasmImage("exitcode"));
        var id = await Docker.OutputAsync("run", "-d", "--restart", "on-failure:2", "--runtime", DockerFixture.Runtime, image, "3");
        try
        {
            const string format = "{{.RestartCount}} {{.State.Status}} {{.State.ExitCode}}";
            await Docker.WaitForAsync(id, format, "2 exited 3", TimeSpan.FromSeconds(30));
            // No third start after a while (dockerd's back-off between starts is 100 ms, then 200 ms).
            await Task.Delay(1000);
            Assert.Equal("2 exited 3", await Docker.InspectAsync(id, format));
            var logs = await Docker.OutputAsync("logs", id);
            Assert.Equal(3, Regex.Matches(logs, "exiting with 3").Count);
        }
        finally
        {
            await Docker.ForceRemoveAsync(id);
        }
    }

    private async Task WaitForLogAsync(string id, string expected)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        ProcessResult logs;
        while (!(logs = await Docker.RunAsync("logs", id)).StdoutText.Contains(expected, StringComparison.Ordinal))
        {
            Assert.True(DateTime.UtcNow < deadline, "the guest did not log " + expected.Trim() + ": " + Docker.Explain(logs));
            await Task.Delay(100);
        }
    }

    // One `docker stats --no-stream` line of the container: dockerd reads two samples of the shim's Stats for it.
    private async Task<StatsLine> StatsAsync(string id)
    {
        var result = await Docker.RunAsync("stats", "--no-stream", "--format", "{{.MemUsage}}|{{.CPUPerc}}|{{.PIDs}}", id);
        Assert.True(result.ExitCode == 0, Docker.Explain(result));
        var line = result.StdoutText.Trim();
        var fields = line.Split('|');
        var memory = MemoryUsage().Match(fields[0]);
        var cpu = CpuPercent().Match(fields.Length > 1 ? fields[1] : "");
        Assert.True(fields.Length == 3 && memory.Success && cpu.Success && int.TryParse(fields[2], out _),
            $"docker stats printed `{line}`:\n" + Docker.Explain(result));
        return new StatsLine(
            line,
            Bytes(double.Parse(memory.Groups[1].Value, CultureInfo.InvariantCulture), memory.Groups[2].Value),
            double.Parse(cpu.Groups[1].Value, CultureInfo.InvariantCulture),
            int.Parse(fields[2], CultureInfo.InvariantCulture));
    }

    private async Task AssertDaemonAliveAsync()
    {
        Assert.True(ContainerdFixture.IsRunning(fixture.DaemonPid), "dockerd died:\n" + fixture.LogTail());
        var version = await Docker.RunAsync("version");
        Assert.True(version.ExitCode == 0, Docker.Explain(version));
    }

    private static int ThreadGroupOf(int tid) =>
        int.Parse(File.ReadLines($"/proc/{tid}/status").First(l => l.StartsWith("Tgid:", StringComparison.Ordinal))["Tgid:".Length..].Trim(),
            CultureInfo.InvariantCulture);

    private static long Bytes(double value, string unit) => (long)(value * unit switch
    {
        "B" => 1,
        "KiB" or "kB" => 1024,
        "MiB" or "MB" => 1024 * 1024,
        "GiB" or "GB" => 1024L * 1024 * 1024,
        _ => 0,
    });

    // "64KiB / 15.62GiB": the usage and the limit (or the host's memory).
    [GeneratedRegex(@"^([0-9.]+)([kKMG]i?B|B) / [0-9.]+[kKMGT]i?B$")]
    private static partial Regex MemoryUsage();

    [GeneratedRegex(@"^([0-9.]+)%$")]
    private static partial Regex CpuPercent();

    private sealed record StatsLine(string Line, long MemoryBytes, double CpuPercent, int Pids);
}

/// <summary>Debian trixie's docker 26.1 on trixie's containerd 1.7.</summary>
[Collection(EndToEndCollection.Name)]
[Trait("Category", "EndToEnd")]
[Trait("Requires", "root")]
[Trait("Runtime", "wasmkata")]
public sealed class DockerTrixieSpec(DockerTrixieFixture fixture, ITestOutputHelper output)
    : DockerSpec(fixture, output), IClassFixture<DockerTrixieFixture>
{
    protected override string DockerVersionPrefix => "26.1.";

    protected override string ContainerdVersionPrefix => "1.7.";
}

/// <summary>Debian sid's docker 28 on sid's containerd 2.x.</summary>
[Collection(EndToEndCollection.Name)]
[Trait("Category", "EndToEnd")]
[Trait("Requires", "root")]
[Trait("Runtime", "wasmkata")]
public sealed class DockerSidSpec(DockerSidFixture fixture, ITestOutputHelper output)
    : DockerSpec(fixture, output), IClassFixture<DockerSidFixture>
{
    protected override string DockerVersionPrefix => "28.";

    protected override string ContainerdVersionPrefix => "2.";
}
