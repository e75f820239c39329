using System.Diagnostics;
using System.Globalization;
using WasmKata.Specs.Linux.Systemd;
using Xunit;
using Xunit.Abstractions;

namespace WasmKata.Specs.EndToEnd;

/// <summary>
/// The systemd cgroup driver end to end: `ctr run --cgroup slice:prefix:name` puts the sandbox in a transient scope of a
/// real systemd (booted by <see cref="SystemdFixture"/>), seen through systemd's own D-Bus API, and gone after delete.
/// </summary>
/// <remarks>
/// That systemd runs in its own pid namespace and accepts a scope only for pids it can see; so containerd is given the
/// shim through a wrapper (an absolute runtime path) that starts it with nsenter in that pid namespace (and nothing
/// else: files, sockets and mounts stay the host's). The shim reaches systemd at the address the configuration's
/// systemd_address names, passed with --runtime-config-path.
/// </remarks>
[Collection(EndToEndCollection.Name)]
[Trait("Category", "EndToEnd")]
[Trait("Requires", "root")]
[Trait("Runtime", "wasmkata")]
public sealed class WasmSystemdSpec(ContainerdFixture fixture, SystemdFixture systemd, ITestOutputHelper output) : IClassFixture<SystemdFixture>
{
    private Ctr Ctr => fixture.Ctr;

    [Fact]
    public async Task A_scope_must_hold_the_sandbox_while_it_runs_and_be_gone_after_delete()
    {
        var image = await fixture.Images.WasmAsync(new WasmImage("sleep"));
        var id = ContainerdFixture.NewId("scope");
        var (shim, config) = Prepare(id);
        var unit = $"wasmkata-{id}.scope";
        using var manager = await systemd.ConnectWithRetry(systemd.PrivateAddress);

        var clock = Stopwatch.StartNew();
        var run = await Ctr.RunAsync(Ctr.RunArgs(shim, image, id,
            ["-d", "--runtime-config-path", config, "--cgroup", $"system.slice:wasmkata:{id}", "--memory-limit", "8388608"], "/app.wasm", "600"));
        try
        {
            Assert.True(run.ExitCode == 0, Ctr.Explain(run));
            output.WriteLine($"ctr run -d returned in {clock.ElapsedMilliseconds} ms");
            await Ctr.WaitForTaskStatusAsync(id, "RUNNING", TimeSpan.FromSeconds(10));

            var path = await manager.GetUnitAsync(unit);
            Assert.True(path is not null, $"no unit {unit}\n{fixture.LogTail()}");
            var state = await manager.GetAllPropertiesAsync(path!, "org.freedesktop.systemd1.Unit");
            Assert.Equal("active", state["ActiveState"].GetString());
            var scope = await manager.GetAllPropertiesAsync(path!, "org.freedesktop.systemd1.Scope");
            Assert.Equal("system.slice", scope["Slice"].GetString());
            Assert.Equal(8388608UL + (256UL << 20), scope["MemoryMax"].GetUInt64());
            var processes = await manager.GetUnitProcessesAsync(unit);
            Assert.Contains(processes, p => p.CommandLine.Contains(ContainerdFixture.ShimBinary, StringComparison.Ordinal));

            var metrics = await ResourceProbe.MetricsAsync(Ctr, id);
            Assert.Equal("8388608", metrics["memory.limit_in_bytes"]);

            Assert.Equal(0, (await Ctr.RunAsync("task", "kill", "-s", "SIGKILL", id)).ExitCode);
            await Ctr.WaitForTaskStatusAsync(id, "STOPPED", TimeSpan.FromSeconds(5));
            clock.Restart();
            Assert.Equal(0, (await Ctr.RunAsync("task", "rm", id)).ExitCode);
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
            while (await manager.GetUnitAsync(unit) is not null && DateTime.UtcNow < deadline)
                await Task.Delay(20);
            output.WriteLine($"scope gone {clock.ElapsedMilliseconds} ms after `ctr task rm` was started");
            Assert.True(await manager.GetUnitAsync(unit) is null, $"{unit} still exists after delete\n{fixture.LogTail()}");
            foreach (var line in File.ReadLines(fixture.LogPath).Where(l => l.Contains(id, StringComparison.Ordinal) && l.Contains("cgroup", StringComparison.Ordinal)))
                output.WriteLine(line);
        }
        finally
        {
            await Ctr.ForceRemoveAsync(id);
        }
    }

    [Fact]
    public async Task A_cgroups_path_that_systemd_refuses_must_fail_create_and_leave_nothing()
    {
        var image = await fixture.Images.WasmAsync(new WasmImage("sleep"));
        var id = ContainerdFixture.NewId("badscope");
        var (shim, config) = Prepare(id);
        using var manager = await systemd.ConnectWithRetry(systemd.PrivateAddress);

        // A slice name systemd does not take: the scope cannot be made, and Create says why.
        var run = await Ctr.RunAsync(Ctr.RunArgs(shim, image, id,
            ["--rm", "--runtime-config-path", config, "--cgroup", $"bad/slice.slice:wasmkata:{id}"], "/app.wasm", "1"));
        try
        {
            Assert.True(run.ExitCode != 0, Ctr.Explain(run));
            Assert.Contains("cgroup", run.Stderr, StringComparison.Ordinal);
            Assert.Null(await manager.GetUnitAsync($"wasmkata-{id}.scope"));
            Assert.Null(await Ctr.TaskStatusAsync(id));
        }
        finally
        {
            await Ctr.ForceRemoveAsync(id);
        }
    }

    // The wrapper the runtime path names, and the configuration that selects systemd at the fixture's address.
    private (string Shim, string Config) Prepare(string id)
    {
        var dir = Directory.CreateDirectory(Path.Combine(fixture.RunDir, "systemd-shim")).FullName;
        var wrapper = Path.Combine(dir, ContainerdFixture.ShimBinary);
        File.WriteAllText(wrapper, string.Create(CultureInfo.InvariantCulture, $"""
            #!/bin/sh
            # The shim, in the pid namespace of the specs' systemd; no inspection node (its registry is the host's).
            export WASMKATA_INSPECT=off
            exec nsenter -t {systemd.Pid} -p -- {Path.Combine(fixture.ShimDir, ContainerdFixture.ShimBinary)} "$@"

            """));
        File.SetUnixFileMode(wrapper, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var config = Path.Combine(dir, $"{id}.toml");
        File.WriteAllText(config, $"""
            [wasmkata]
            cgroup_driver = "systemd"
            systemd_address = "{systemd.PrivateAddress}"

            """);
        return (wrapper, config);
    }
}
