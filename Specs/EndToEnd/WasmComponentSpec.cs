using System.Security.Cryptography;
using Xunit;

namespace WasmKata.Specs.EndToEnd;

/// <summary>
/// WASI 0.2 command components (out/guests/NAME.component.wasm) through containerd and the shim, as init and as exec,
/// next to core modules in the same container: output, exit status, arguments, environment, files, stdin, kill.
/// </summary>
[Collection(EndToEndCollection.Name)]
[Trait("Category", "EndToEnd")]
[Trait("Requires", "root")]
[Trait("Runtime", "wasmkata")]
public sealed class WasmComponentSpec(ContainerdFixture fixture)
{
    private Ctr Ctr => fixture.Ctr;

    [Fact]
    public async Task A_component_hello_must_print_its_greeting_and_exit_0()
    {
        var run = await fixture.RunWasmAsync(new WasmImage("hello.component"), "comp-hello");

        Assert.True(run.ExitCode == 0, Ctr.Explain(run));
        Assert.True(run.StdoutText == "hello from wasm\n", Ctr.Explain(run));
    }

    [Fact]
    public async Task Args_and_env_must_reach_the_component_exactly()
    {
        var image = new WasmImage("args.component") { Env = ["FROM_IMAGE=image value"] };

        var run = await fixture.RunWasmAsync(image, "comp-args",
            options: ["--rm", "--env", "K=V", "--env", "EQUALS=a=b", "--env", "EMPTY="],
            command: ["/app.wasm", "a", "b c", "--flag=x"]);

        string[] expected = ["/app.wasm", "a", "b c", "--flag=x", "FROM_IMAGE=image value", "K=V", "EQUALS=a=b", "EMPTY="];
        Assert.True(run.ExitCode == 0, Ctr.Explain(run));
        Assert.True(run.StdoutText == string.Join('\n', expected) + "\n",
            $"expected lines:\n{string.Join('\n', expected)}\n{Ctr.Explain(run)}");
    }

    [Fact]
    public async Task A_file_of_the_image_must_be_readable_at_its_path()
    {
        var image = new WasmImage("readfile.component")
        {
            Files = new Dictionary<string, string> { ["/etc/motd"] = "read by a component\n" },
        };

        var run = await fixture.RunWasmAsync(image, "comp-file", command: ["/app.wasm", "/etc/motd"]);

        Assert.True(run.ExitCode == 0, Ctr.Explain(run));
        Assert.True(run.StdoutText == "read by a component\n", Ctr.Explain(run));
    }

    [Fact]
    public async Task A_component_run_must_leave_its_compiled_code_in_the_compile_cache_modules_use()
    {
        // The shims here run with the default configuration: compile_cache_dir /var/cache/wasmkata/modules.
        const string cache = "/var/cache/wasmkata/modules";
        var digest = Convert.ToHexStringLower(SHA256.HashData(fixture.Images.GuestBytes("readfile.component")));
        foreach (var stale in Directory.Exists(cache) ? Directory.GetFiles(cache, digest + "-*.cwasm") : [])
            File.Delete(stale);

        var image = new WasmImage("readfile.component") { Files = new Dictionary<string, string> { ["/x"] = "x\n" } };
        var run = await fixture.RunWasmAsync(image, "comp-cache", command: ["/app.wasm", "/x"]);

        Assert.True(run.ExitCode == 0 && run.StdoutText == "x\n", Ctr.Explain(run));
        var entry = Assert.Single(Directory.GetFiles(cache, digest + "-*.cwasm"));
        Assert.Equal("WKCCOMP2", System.Text.Encoding.ASCII.GetString(File.ReadAllBytes(entry), 0, 8));
        var again = await fixture.RunWasmAsync(image, "comp-cache", command: ["/app.wasm", "/x"]);
        Assert.True(again.ExitCode == 0 && again.StdoutText == "x\n", Ctr.Explain(again));
    }

    [Theory]
    [InlineData("0", 0)]
    // The preview-1 adapter turns exit(n != 0) into wasi:cli/exit's err, which carries no code: 1.
    [InlineData("5", 1)]
    public async Task Exit_must_become_ctr_exit_status(string code, int status)
    {
        var run = await fixture.RunWasmAsync(new WasmImage("exitcode.component"), "comp-exit", command: ["/app.wasm", code]);

        Assert.True(run.StdoutText == $"exiting with {code}\n", Ctr.Explain(run));
        Assert.True(run.ExitCode == status, $"expected exit {status}\n{Ctr.Explain(run)}");
    }

    [Fact]
    public async Task Exit_with_code_must_become_ctr_exit_status()
    {
        var run = await fixture.RunWasmAsync(new WasmImage("exitwithcode.component"), "comp-exit42");

        Assert.True(run.ExitCode == 42, Ctr.Explain(run));
    }

    [Fact]
    public async Task A_trap_must_end_the_task_with_134()
    {
        var run = await fixture.RunWasmAsync(new WasmImage("trap.component"), "comp-trap");

        Assert.True(run.StdoutText == "trapping\n", Ctr.Explain(run));
        Assert.True(run.ExitCode == 134, Ctr.Explain(run));
    }

    [Fact]
    public async Task Stdin_must_reach_the_cat_component_intact()
    {
        // Larger than the pipe and FIFO buffers, as in WasmRunSpec: ctr 1.6 loses the EOF of an input that ended early.
        var input = new byte[1024 * 1024];
        new Random(7).NextBytes(input);

        var run = await fixture.RunWasmAsync(new WasmImage("cat.component"), "comp-cat", stdin: input);

        Assert.True(run.ExitCode == 0, Ctr.Explain(run));
        Assert.True(run.Stdout.AsSpan().SequenceEqual(input), $"stdout differs from the {input.Length} bytes fed in\n{Ctr.Explain(run)}");
    }

    [Fact]
    public async Task Bigout_component_must_deliver_64_MiB_byte_exact()
    {
        const int mebibytes = 64;

        var run = await fixture.RunWasmAsync(new WasmImage("bigout.component"), "comp-bigout", command: ["/app.wasm", $"{mebibytes}"],
            timeout: TimeSpan.FromMinutes(2));

        var summary = $"exit {run.ExitCode}, {run.Stdout.Length} bytes on stdout, stderr: {run.Stderr}\n" + fixture.LogTail();
        Assert.True(run.ExitCode == 0, summary);
        Assert.True(run.Stdout.Length == mebibytes << 20, summary);
        Assert.True(SHA256.HashData(run.Stdout).AsSpan().SequenceEqual(Bigout.Sha256(mebibytes)), "wrong bytes\n" + summary);
    }

    [Fact]
    public async Task Kill_must_report_exit_137_within_2_seconds_when_the_component_is_spinning()
    {
        var image = await fixture.Images.WasmAsync(new WasmImage("spin.component"));

        var killed = await Killing.KillForegroundRunAsync(fixture, Ctr.WasmRuntime, image, "spinning", "/app.wasm");

        Assert.True(killed.Run.ExitCode == 137, Ctr.Explain(killed.Run));
        Assert.True(killed.KillToExit < TimeSpan.FromSeconds(2),
            $"from `ctr task kill` to ctr's exit took {killed.KillToExit.TotalMilliseconds:F0} ms\n" + Ctr.Explain(killed.Run));
    }

    [Fact]
    public async Task Kill_must_report_exit_137_within_2_seconds_when_the_component_sleeps_in_the_host()
    {
        // Wasmtime's WASI 0.2 sleep cannot be interrupted: the shim reports the kill without waiting for the guest.
        var image = await fixture.Images.WasmAsync(new WasmImage("sleep.component"));

        var killed = await Killing.KillForegroundRunAsync(fixture, Ctr.WasmRuntime, image, "sleeping", "/app.wasm", "3600");

        Assert.True(killed.Run.ExitCode == 137, Ctr.Explain(killed.Run));
        Assert.True(killed.KillToExit < TimeSpan.FromSeconds(2),
            $"from `ctr task kill` to ctr's exit took {killed.KillToExit.TotalMilliseconds:F0} ms\n" + Ctr.Explain(killed.Run));
    }

    [Fact]
    public async Task A_killed_sleeping_component_exec_must_end_at_once_and_its_shim_must_serve_on()
    {
        var image = new WasmImage("sleep")
        {
            Guests = new Dictionary<string, string>
            {
                ["/bin/nap.wasm"] = "sleep.component",
                ["/bin/hello.wasm"] = "hello.component",
            },
        };
        await using var container = await DetachedContainer.StartAsync(
            Ctr, Ctr.WasmRuntime, await fixture.Images.WasmAsync(image), "comp-nap", "/app.wasm", "3600");
        using var nap = Ctr.Start(["task", "exec", "--exec-id", "nap", container.Id, "/bin/nap.wasm", "3600"]);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (!nap.StdoutSoFar().Contains("sleeping", StringComparison.Ordinal) && !nap.HasExited && DateTime.UtcNow < deadline)
            await Task.Delay(20);
        Assert.True(nap.StdoutSoFar().Contains("sleeping", StringComparison.Ordinal), "the exec did not start sleeping\n" + fixture.LogTail());

        var clock = System.Diagnostics.Stopwatch.StartNew();
        var kill = await Ctr.RunAsync("task", "kill", "--exec-id", "nap", "-s", "SIGKILL", container.Id);
        Assert.True(kill.ExitCode == 0, Ctr.Explain(kill));
        var napped = await nap.WaitAsync(TimeSpan.FromSeconds(20), () => fixture.LogTail());
        var killToExit = clock.Elapsed;

        Assert.True(napped.ExitCode == 137, Ctr.Explain(napped));
        Assert.True(killToExit < TimeSpan.FromSeconds(2), $"the exec's kill took {killToExit.TotalMilliseconds:F0} ms\n" + Ctr.Explain(napped));
        // The same shim (the component's thread still waiting in Wasmtime's sleep) runs the next exec and keeps its init.
        var hello = await Ctr.RunAsync("task", "exec", "--exec-id", "hello", container.Id, "/bin/hello.wasm");
        Assert.True(hello.ExitCode == 0 && hello.StdoutText == "hello from wasm\n", Ctr.Explain(hello));
        Assert.Equal("RUNNING", await Ctr.TaskStatusAsync(container.Id));
    }

    [Fact]
    public async Task A_component_must_run_as_an_exec_in_a_core_module_container()
    {
        var image = new WasmImage("sleep")
        {
            Guests = new Dictionary<string, string> { ["/bin/args.wasm"] = "args.component" },
        };
        await using var container = await DetachedContainer.StartAsync(
            Ctr, Ctr.WasmRuntime, await fixture.Images.WasmAsync(image), "comp-exec", "/app.wasm", "3600");

        var exec = await Ctr.RunAsync("task", "exec", "--exec-id", "c1", container.Id, "/bin/args.wasm", "x y");

        // ctr 1.6's exec has no --env: the exec gets the container's environment (PATH from ctr's defaults).
        Assert.True(exec.ExitCode == 0, Ctr.Explain(exec));
        Assert.True(exec.StdoutText.StartsWith("/bin/args.wasm\nx y\n", StringComparison.Ordinal), Ctr.Explain(exec));
        Assert.Contains("\nPATH=", exec.StdoutText);
        Assert.Equal("RUNNING", await Ctr.TaskStatusAsync(container.Id));
    }

    [Fact]
    public async Task Metrics_must_show_the_linear_memory_of_a_running_component()
    {
        var image = await fixture.Images.WasmAsync(new WasmImage("spin.component"));
        await using var container = await DetachedContainer.StartAsync(Ctr, Ctr.WasmRuntime, image, "comp-metrics", "/app.wasm");

        // A component's memories are internal to it: the shim finds them in its address space (was 0 before).
        var metrics = await ResourceProbe.MetricsUntilAsync(Ctr, container.Id,
            m => long.TryParse(m.GetValueOrDefault("memory.usage_in_bytes"), out var bytes) && bytes > 0, TimeSpan.FromSeconds(10));

        var usage = long.Parse(metrics["memory.usage_in_bytes"], System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(usage, 64 * 1024, 16 << 20);
    }

    [Fact]
    public async Task A_core_module_must_run_as_an_exec_in_a_component_container()
    {
        var image = new WasmImage("spin.component")
        {
            Guests = new Dictionary<string, string> { ["/bin/exitcode.wasm"] = "exitcode" },
        };
        await using var container = await DetachedContainer.StartAsync(
            Ctr, Ctr.WasmRuntime, await fixture.Images.WasmAsync(image), "comp-init", "/app.wasm");

        var exec = await Ctr.RunAsync("task", "exec", "--exec-id", "m1", container.Id, "/bin/exitcode.wasm", "7");

        Assert.True(exec.ExitCode == 7, Ctr.Explain(exec));
        Assert.True(exec.StdoutText == "exiting with 7\n", Ctr.Explain(exec));
        Assert.Equal("RUNNING", await Ctr.TaskStatusAsync(container.Id));
    }
}
