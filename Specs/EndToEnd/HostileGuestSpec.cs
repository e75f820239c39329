using System.Text.RegularExpressions;
using Xunit;
using Xunit.Abstractions;

namespace WasmKata.Specs.EndToEnd;

/// <summary>
/// Hostile guests run through containerd in one sandbox (one shim) beside a sibling that ticks all along: each ends
/// with its defined exit status, the sibling keeps running with its output intact, and the shim keeps serving.
/// </summary>
[Collection(EndToEndCollection.Name)]
[Trait("Category", "EndToEnd")]
[Trait("Requires", "root")]
[Trait("Runtime", "wasmkata")]
public sealed partial class HostileGuestSpec(ContainerdFixture fixture, ITestOutputHelper output)
{
    private const int FloodWrites = 30_000;

    private static readonly WasmImage Image = new("hostile")
    {
        Guests = new Dictionary<string, string>
        {
            ["/trap.wasm"] = "trap",
            ["/oob.wasm"] = "oob",
            ["/recurse.wasm"] = "recurse",
            ["/spin.wasm"] = "spin",
            ["/hello.wasm"] = "hello",
            ["/bigout.wasm"] = "bigout",
        },
        Files = new Dictionary<string, string>
        {
            ["/etc/passwd"] = "decoy:x:0:0:image file:/:/bin/false\n",
            ["/junk.wasm"] = "MZ\u0090 these are not the bytes of a module\n",
            ["/tmp/.keep"] = "",
        },
        Symlinks = new Dictionary<string, string>
        {
            ["/outlink"] = "/etc",
            ["/uplink"] = "../../../../../../etc/passwd",
        },
        Env = ["FROM_IMAGE=image value"],
    };

    private Ctr Ctr => fixture.Ctr;

    [Fact]
    public async Task Hostile_guests_must_each_end_with_a_defined_status_while_a_sibling_in_their_sandbox_runs_on()
    {
        var image = await fixture.Images.WasmAsync(Image);
        var pod = ContainerdFixture.NewId("hostile-pod");
        string[] inPod = ["--annotation", $"io.kubernetes.cri.sandbox-id={pod}"];
        var sibling = ContainerdFixture.NewId("sibling");
        var siblingLog = Path.Combine(fixture.RunDir, $"{sibling}.log");
        var spinner = ContainerdFixture.NewId("spinner");
        var shimsBefore = fixture.ShimProcesses();
        try
        {
            var started = await Ctr.RunAsync(Ctr.RunArgs(Ctr.WasmRuntime, image, sibling,
                ["-d", "--log-uri", "file://" + siblingLog, .. inPod], "/app.wasm", "tick", "20"));
            Assert.True(started.ExitCode == 0, Ctr.Explain(started));
            await Ctr.WaitForTaskStatusAsync(sibling, "RUNNING", TimeSpan.FromSeconds(10));
            var shim = Assert.Single(fixture.ShimProcesses().Except(shimsBefore));

            async Task<ProcessResult> Run(string[] options, params string[] command) =>
                await Ctr.RunAsync(Ctr.RunArgs(Ctr.WasmRuntime, image, ContainerdFixture.NewId("hostile"), ["--rm", .. inPod, .. options], command),
                    timeout: TimeSpan.FromSeconds(60));

            // Junk bytes as the module: refused at Create, with the reason.
            var junk = await Run([], "/junk.wasm");
            Assert.True(junk.ExitCode != 0 && junk.Stderr.Contains("is not a WebAssembly module", StringComparison.Ordinal), Ctr.Explain(junk));

            // Traps: unreachable, out-of-bounds memory, call stack exhausted. Each is 134, as SIGABRT would be.
            foreach (var (module, says) in new[] { ("/trap.wasm", "trapping\n"), ("/oob.wasm", "out of bounds\n"), ("/recurse.wasm", "recursing\n") })
            {
                var trap = await Run([], module);
                Assert.True(trap.ExitCode == 134 && trap.StdoutText == says, $"{module}: " + Ctr.Explain(trap));
            }

            // Memory without end: the container's limit refuses growth; the guest sees malloc fail and aborts.
            var grow = await Run(["--memory-limit", $"{64 << 20}"], "/app.wasm", "grow");
            var grew = GrowRefused().Match(grow.Stderr);
            Assert.True(grow.ExitCode == 134 && grew.Success, Ctr.Explain(grow));
            Assert.True(int.Parse(grew.Groups[1].Value) is > 32 and <= 64, $"grew to {grew.Groups[1].Value} MiB under a 64 MiB limit");

            // Tiny writes as fast as the guest can: every line arrives, in order.
            var flood = await Run([], "/app.wasm", "flood", $"{FloodWrites}");
            Assert.True(flood.ExitCode == 0, Ctr.Explain(flood));
            Assert.True(flood.Stdout.Length == FloodWrites * 8, $"{flood.Stdout.Length} bytes, expected {FloodWrites * 8}");
            var lines = flood.StdoutText.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.True(lines.Select((line, i) => int.Parse(line) == i).All(ok => ok), "flood lines out of order or corrupted");
            output.WriteLine(flood.Stderr.Trim());

            // Ways out of the rootfs: none reaches a host file.
            var escape = await Run([], "/app.wasm", "escape");
            Assert.True(escape.ExitCode == 0, Ctr.Explain(escape));
            output.WriteLine(escape.StdoutText);
            var attempts = escape.StdoutText.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(10, attempts.Length);
            Assert.All(attempts, line => Assert.True(
                line.Contains(": denied (", StringComparison.Ordinal) || line.Contains(": not created (", StringComparison.Ordinal) ||
                line.EndsWith(": read decoy:x:0:0:image file:/:/bin/false", StringComparison.Ordinal),
                $"escaped: {line}"));
            Assert.StartsWith("/etc/passwd: read decoy", attempts[0], StringComparison.Ordinal);

            // The host environment: the guest sees exactly the spec's process.env (image Env, then --env).
            var env = await Run(["--env", "K=V"], "/app.wasm", "env");
            Assert.True(env.ExitCode == 0 && env.StdoutText == "FROM_IMAGE=image value\nK=V\n", Ctr.Explain(env));

            // An endless loop: runs until killed, then 137.
            var spin = await Ctr.RunAsync(Ctr.RunArgs(Ctr.WasmRuntime, image, spinner, ["-d", .. inPod], "/spin.wasm"));
            Assert.True(spin.ExitCode == 0, Ctr.Explain(spin));
            await Ctr.WaitForTaskStatusAsync(spinner, "RUNNING", TimeSpan.FromSeconds(10));
            await Task.Delay(500);
            Assert.Equal("RUNNING", await Ctr.TaskStatusAsync(spinner));
            var kill = await Ctr.RunAsync("task", "kill", "-s", "SIGKILL", spinner);
            Assert.True(kill.ExitCode == 0, Ctr.Explain(kill));
            await Ctr.WaitForTaskStatusAsync(spinner, "STOPPED", TimeSpan.FromSeconds(5));
            var deleted = await Ctr.RunAsync("task", "delete", spinner);
            Assert.True(deleted.Stderr.Contains("exit code 137", StringComparison.Ordinal), Ctr.Explain(deleted));

            // Through all of it: one shim, still serving, and the sibling still ticking without a gap.
            Assert.Equal([shim], fixture.ShimProcesses().Except(shimsBefore));
            var hello = await Run([], "/hello.wasm");
            Assert.True(hello.ExitCode == 0 && hello.StdoutText == "hello from wasm\n", Ctr.Explain(hello));
            Assert.Equal("RUNNING", await Ctr.TaskStatusAsync(sibling));
            var ticksBefore = Ticks(siblingLog);
            await Task.Delay(300);
            var ticks = Ticks(siblingLog);
            Assert.True(ticks.Count > ticksBefore.Count, $"the sibling stopped ticking at {ticks.Count}");
            Assert.True(ticks.Select((line, i) => line == $"tick {i}").All(ok => ok), "the sibling's output has a gap or garbage");
            output.WriteLine($"sibling ticked {ticks.Count} times through the hostile runs");

            var stop = await Ctr.RunAsync("task", "kill", "-s", "SIGKILL", sibling);
            Assert.True(stop.ExitCode == 0, Ctr.Explain(stop));
            await Ctr.WaitForTaskStatusAsync(sibling, "STOPPED", TimeSpan.FromSeconds(5));
        }
        finally
        {
            await Ctr.ForceRemoveAsync(spinner);
            await Ctr.ForceRemoveAsync(sibling);
        }
    }

    [Fact]
    public async Task A_stdout_reader_that_goes_away_must_not_hang_the_guest_and_its_exit_must_still_arrive()
    {
        var image = await fixture.Images.WasmAsync(Image);
        var id = ContainerdFixture.NewId("readergone");
        // 128 MiB of output, far more than the FIFO and the shim's buffer hold: the guest is writing when ctr dies.
        using var run = Ctr.Start(Ctr.RunArgs(Ctr.WasmRuntime, image, id, [], "/bigout.wasm", "128"));
        try
        {
            await Ctr.WaitForTaskStatusAsync(id, "RUNNING", TimeSpan.FromSeconds(10));
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
            while (run.StdoutSoFar().Length < 4096 && DateTime.UtcNow < deadline)
                await Task.Delay(20);
            Assert.True(run.StdoutSoFar().Length >= 4096, "the guest's output never reached ctr");

            // ctr is the FIFO's only reader: killing it closes the read end under the shim's writes.
            run.Kill();
            await Ctr.WaitForTaskStatusAsync(id, "STOPPED", TimeSpan.FromSeconds(60));
            var deleted = await Ctr.RunAsync("task", "delete", id);
            Assert.True(deleted.ExitCode == 0 && !deleted.Stderr.Contains("exit code", StringComparison.Ordinal), Ctr.Explain(deleted));
            var hello = await Ctr.RunAsync(Ctr.RunArgs(Ctr.WasmRuntime, image, ContainerdFixture.NewId("after-readergone"), null, "/hello.wasm"));
            Assert.True(hello.ExitCode == 0 && hello.StdoutText == "hello from wasm\n", Ctr.Explain(hello));
        }
        finally
        {
            await Ctr.ForceRemoveAsync(id);
        }
    }

    private static List<string> Ticks(string log)
    {
        using var stream = new FileStream(log, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        var text = new StreamReader(stream).ReadToEnd();
        // The last line may be half written.
        return text.Split('\n').SkipLast(1).ToList();
    }

    [GeneratedRegex(@"grow: refused after (\d+) MiB")]
    private static partial Regex GrowRefused();
}
