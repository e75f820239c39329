using Xunit;

namespace WasmKata.Specs.EndToEnd;

/// <summary>A detached wasm container: exec into it, list its pids, kill it and read its exit status.</summary>
[Collection(EndToEndCollection.Name)]
[Trait("Category", "EndToEnd")]
[Trait("Requires", "root")]
[Trait("Runtime", "wasmkata")]
public sealed class WasmTaskSpec(ContainerdFixture fixture)
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
    public async Task Ps_must_list_at_least_one_pid()
    {
        await using var container = await StartSleeperAsync("ps");

        var ps = await Ctr.RunAsync("task", "ps", container.Id);

        Assert.True(ps.ExitCode == 0, Ctr.Explain(ps));
        var pids = Ctr.FirstColumn(ps.StdoutText);
        Assert.True(pids.Count >= 1 && pids.All(pid => int.TryParse(pid, out var n) && n > 0), Ctr.Explain(ps));
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
