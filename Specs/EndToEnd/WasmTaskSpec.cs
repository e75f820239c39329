using System.Globalization;
using Xunit;

namespace WasmKata.Specs.EndToEnd;

/// <summary>A detached wasm container: exec into it, list its pids, kill it and read its exit status.</summary>
[Collection(EndToEndCollection.Name)]
[Trait("Category", "EndToEnd")]
[Trait("Requires", "root")]
[Trait("Runtime", "wasmkata")]
public class WasmTaskSpec(ContainerdFixture fixture)
{
    // The init process sleeps; /bin/exitcode.wasm is a second program to exec.
    private static readonly WasmImage Image = new("sleep")
    {
        Guests = new Dictionary<string, string> { ["/bin/exitcode.wasm"] = "exitcode" },
    };

    private Ctr Ctr => fixture.Ctr;

    [Fact]
    public async Task Exec_must_print_its_output_and_return_its_exit_code()
    {
        await using var container = await StartSleeperAsync("exec");

        var first = await Ctr.RunAsync("task", "exec", "--exec-id", "e1", container.Id, "/app.wasm", "0");
        var second = await Ctr.RunAsync("task", "exec", "--exec-id", "e2", container.Id, "/bin/exitcode.wasm", "7");

        Assert.True(first.ExitCode == 0, Ctr.Explain(first));
        Assert.True(first.StdoutText == "sleeping\n", Ctr.Explain(first));
        Assert.True(second.ExitCode == 7, Ctr.Explain(second));
        Assert.Equal("RUNNING", await Ctr.TaskStatusAsync(container.Id));
    }

    [Fact]
    public async Task Ps_must_list_the_host_process_that_runs_each_guest_process_with_the_exec_id()
    {
        await using var container = await StartSleeperAsync("ps");
        var daemon = await ResourceProbe.ShimPidAsync(Ctr, container.Id);
        var initPid = await ResourceProbe.TaskPidAsync(Ctr, container.Id);
        using var exec = Ctr.Start(["task", "exec", "--exec-id", "e1", container.Id, "/app.wasm", "3600"]);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!exec.StdoutSoFar().Contains("sleeping", StringComparison.Ordinal))
        {
            Assert.True(DateTime.UtcNow < deadline && !exec.HasExited, "the exec did not start sleeping: " + exec.StdoutSoFar());
            await Task.Delay(20);
        }

        var ps = await Ctr.RunAsync("task", "ps", container.Id);
        Assert.True(ps.ExitCode == 0, Ctr.Explain(ps));
        // Host tools (docker top runs ps -q PIDS) find the processes by these pids; the exec keeps its id in INFO.
        var listed = Ctr.FirstColumn(ps.StdoutText);
        Assert.True(listed.Count == 2, Ctr.Explain(ps));
        var (initListed, e1Listed) = (int.Parse(listed[0], CultureInfo.InvariantCulture), int.Parse(listed[1], CultureInfo.InvariantCulture));
        // Read while the exec still runs.
        var e1Argv = GuestIsolation.Argv(e1Listed);
        var e1Parent = GuestIsolation.IsProcess && e1Argv.Length > 0 ? GuestIsolation.StatusField(e1Listed, "PPid") : 0;
        var kill = await Ctr.RunAsync("task", "kill", "--exec-id", "e1", "-s", "SIGKILL", container.Id);

        if (GuestIsolation.IsProcess)
        {
            // Each guest is a guest host process of the daemon's, as runc lists a container's own processes: init's is
            // the task's pid, the exec's another child of the daemon.
            Assert.True(initListed == initPid, $"init {initPid}: " + Ctr.Explain(ps));
            Assert.True(e1Listed != initListed && e1Argv is [_, "guest-host", ..] && e1Parent == daemon,
                $"daemon {daemon}, exec e1 listed as {e1Listed} (parent {e1Parent}: {string.Join(' ', e1Argv)}): " + Ctr.Explain(ps));
        }
        else
        {
            // A guest is a thread of the shim daemon: ps lists the daemon for every guest (a thread id is not a process).
            Assert.True(initListed == daemon && e1Listed == daemon, $"daemon {daemon}: " + Ctr.Explain(ps));
        }
        Assert.True(ps.StdoutText.Split('\n')[2].Contains("e1", StringComparison.Ordinal), Ctr.Explain(ps));
        Assert.True(kill.ExitCode == 0, Ctr.Explain(kill));
        Assert.Equal(137, (await exec.WaitAsync(TimeSpan.FromSeconds(10))).ExitCode);
        if (GuestIsolation.IsProcess)
            Assert.False(IsLiving(e1Listed) && GuestIsolation.IsGuestHost(e1Listed), $"the exec's guest host {e1Listed} outlived its kill");
    }

    private static bool IsLiving(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)] != 'Z';
        }
        catch (IOException)
        {
            return false;
        }
    }

    [Fact]
    public async Task Kill_of_a_detached_task_must_leave_it_stopped_with_status_137()
    {
        await using var container = await StartSleeperAsync("stop");

        var kill = await Ctr.RunAsync("task", "kill", "-s", "SIGKILL", container.Id);
        Assert.True(kill.ExitCode == 0, Ctr.Explain(kill));
        await Ctr.WaitForTaskStatusAsync(container.Id, "STOPPED", TimeSpan.FromSeconds(2));
        var delete = await Ctr.RunAsync("task", "delete", container.Id);

        // ctr 1.6 reports a non-zero exit status of a deleted task as a warning on stderr.
        Assert.True(delete.ExitCode == 0, Ctr.Explain(delete));
        Assert.True(delete.Stderr.Contains("exit code 137", StringComparison.Ordinal), Ctr.Explain(delete));
        Assert.Null(await Ctr.TaskStatusAsync(container.Id));
    }

    private async Task<DetachedContainer> StartSleeperAsync(string prefix) =>
        await DetachedContainer.StartAsync(
            Ctr, Ctr.WasmRuntime, await fixture.Images.WasmAsync(Image), prefix, "/app.wasm", "3600");
}
