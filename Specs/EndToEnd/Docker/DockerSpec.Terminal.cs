using Xunit;

namespace WasmKata.Specs.EndToEnd.Docker;

// `docker run -it`: the docker CLI on a terminal of the spec's own, the guest on the shim's pty.
public abstract partial class DockerSpec
{
    [Fact]
    public async Task Run_it_must_give_an_interactive_guest_a_terminal_that_follows_a_resize()
    {
        var cat = await fixture.ImageAsync(new WasmImage("cat"));
        var id = "tty-" + Guid.NewGuid().ToString("N")[..8];
        try
        {
            using var user = UserTerminal.Start(Docker.CommandLine, 90, 28, ["run", "-it", "--name", id, "--runtime", DockerFixture.Runtime, cat]);
            await WaitUntilRunning(id);
            await user.WaitUntilRaw();
            var pid = await Docker.InspectAsync(id, "{{.State.Pid}}");
            await UserTerminal.AssertGuestTerminalSize(pid, 90, 28);

            await user.Type("hi docker\r");
            await user.WaitForOutput("hi docker\nhi docker\n", _ => fixture.LogTail());
            user.Resize(132, 50);
            await UserTerminal.AssertGuestTerminalSize(pid, 132, 50);

            await user.Type("\x04");
            var run = await user.WaitAsync(TimeSpan.FromSeconds(30), () => fixture.LogTail());
            Assert.True(run.ExitCode == 0, $"{user.Output}\n{Docker.Explain(run)}");
            Assert.Equal("0", await Docker.InspectAsync(id, "{{.State.ExitCode}}"));
        }
        finally
        {
            await Docker.ForceRemoveAsync(id);
        }
    }

    // `docker run` creates the container a moment after it starts: until then inspect knows no such container.
    private async Task WaitUntilRunning(string id)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        ProcessResult inspect;
        while ((inspect = await Docker.RunAsync("inspect", "-f", "{{.State.Running}}", id)).StdoutText.Trim() != "true")
        {
            Assert.True(DateTime.UtcNow < deadline, Docker.Explain(inspect));
            await Task.Delay(50);
        }
    }
}
