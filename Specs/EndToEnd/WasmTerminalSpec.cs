using System.Globalization;
using Xunit;

namespace WasmKata.Specs.EndToEnd;

/// <summary>
/// `ctr run -t` and `ctr task exec -t` of wasm guests: ctr runs on a pty of the spec's own (the spec is the user's
/// terminal), the shim gives the guest a pty of its own; echo, line ends, ^C, ^D, exit status and the window size.
/// </summary>
[Collection(EndToEndCollection.Name)]
[Trait("Category", "EndToEnd")]
[Trait("Requires", "root")]
[Trait("Runtime", "wasmkata")]
public class WasmTerminalSpec(ContainerdFixture fixture)
{
    private static readonly TimeSpan Long = TimeSpan.FromSeconds(20);

    private Ctr Ctr => fixture.Ctr;

    [Fact]
    public async Task Run_t_must_echo_a_typed_line_copy_it_and_exit_0_at_ctrl_d()
    {
        var image = await fixture.Images.WasmAsync(new WasmImage("cat"));
        var id = ContainerdFixture.NewId("tty");
        try
        {
            using var user = UserTerminal.Start(Ctr.CommandLine, 91, 29, Ctr.RunArgs(Ctr.WasmRuntime, image, id, ["--rm", "-t"], "/app.wasm"));
            await Ctr.WaitForTaskStatusAsync(id, "RUNNING", Long);
            await user.WaitUntilRaw();

            await user.Type("ping\r");
            // The guest's terminal echoes the line, then the guest copies it. (ctr's raw mode keeps the user's terminal
            // mapping LF to CR LF, as it does with runc, so what arrives there as CR LF shows as CR CR LF.)
            await user.WaitForOutput("ping\nping\n", fixture.LogTail);
            // ctr sized the guest's terminal as its own right after Start.
            await AssertGuestTerminalSize(id, 91, 29);

            await user.Type("\x04");
            var run = await user.WaitAsync(Long, () => fixture.LogTail());
            Assert.True(run.ExitCode == 0, $"{user.Output}\n{Ctr.Explain(run)}");
            Assert.Equal("ping\r\r\nping\r\r\n", user.Output);
        }
        finally
        {
            // A failed spec must not leave its container and daemon for later specs (the soak counts daemons).
            await Ctr.ForceRemoveAsync(id);
        }
    }

    [Fact]
    public async Task Ctrl_c_on_a_terminal_must_end_the_guest_with_130()
    {
        var image = await fixture.Images.WasmAsync(new WasmImage("cat"));
        var id = ContainerdFixture.NewId("ttyint");
        try
        {
            using var user = UserTerminal.Start(Ctr.CommandLine, 80, 24, Ctr.RunArgs(Ctr.WasmRuntime, image, id, ["--rm", "-t"], "/app.wasm"));
            await Ctr.WaitForTaskStatusAsync(id, "RUNNING", Long);
            await user.WaitUntilRaw();

            await user.Type("never sent\x03");
            var run = await user.WaitAsync(Long, () => fixture.LogTail());
            Assert.True(run.ExitCode == 130, $"{user.Output}\n{Ctr.Explain(run)}");
            Assert.DoesNotContain("never sent\r", user.Output);
        }
        finally
        {
            await Ctr.ForceRemoveAsync(id);
        }
    }

    [Fact]
    public async Task Exec_t_must_give_the_exec_its_own_terminal_and_follow_a_resize()
    {
        var image = await fixture.Images.WasmAsync(new WasmImage("sleep") { Guests = new Dictionary<string, string> { ["/cat.wasm"] = "cat" } });
        var id = ContainerdFixture.NewId("ttyexec");
        try
        {
            var run = await Ctr.RunAsync(Ctr.RunArgs(Ctr.WasmRuntime, image, id, ["-d"], "/app.wasm", "60"));
            Assert.True(run.ExitCode == 0, Ctr.Explain(run));
            using var user = UserTerminal.Start(Ctr.CommandLine, 100, 30, ["task", "exec", "-t", "--exec-id", "sh1", id, "/cat.wasm"]);
            await user.WaitUntilRaw();
            await user.Type("from exec\r");
            await user.WaitForOutput("from exec\nfrom exec\n", fixture.LogTail);
            await AssertGuestTerminalSize(id, 100, 30);

            // The user's window changes: ctr learns it from SIGWINCH and sends ResizePty.
            user.Resize(120, 40);
            await AssertGuestTerminalSize(id, 120, 40);

            await user.Type("\x04");
            var exec = await user.WaitAsync(Long, () => fixture.LogTail());
            Assert.True(exec.ExitCode == 0, $"{user.Output}\n{Ctr.Explain(exec)}");
            Assert.Equal("from exec\nfrom exec\n", user.Output.Replace("\r", ""));
        }
        finally
        {
            await Ctr.ForceRemoveAsync(id);
        }
    }

    /// <summary>
    /// The guest's terminal is the shim daemon's pty: with guest_isolation = "thread" the task's pid is a thread of the
    /// daemon and shares its descriptors; with "process" the guest host between them has pipes, no terminal (it could
    /// not ask for the size anyway: WASI has no call for it), so the pty is looked up among the daemon's descriptors.
    /// </summary>
    private async Task AssertGuestTerminalSize(string id, int columns, int rows)
    {
        var daemon = await ResourceProbe.ShimPidAsync(Ctr, id);
        await UserTerminal.AssertGuestTerminalSize(daemon.ToString(CultureInfo.InvariantCulture), columns, rows);
        if (GuestIsolation.IsProcess)
        {
            var guestHost = await ResourceProbe.TaskPidAsync(Ctr, id);
            var terminals = new DirectoryInfo($"/proc/{guestHost}/fd").EnumerateFileSystemInfos()
                .Select(fd => fd.LinkTarget).Where(target => target?.StartsWith("/dev/pts/", StringComparison.Ordinal) == true).ToList();
            Assert.True(terminals.Count == 0, $"guest host {guestHost} holds a terminal: {string.Join(", ", terminals)}");
        }
    }
}

/// <summary><see cref="WasmTerminalSpec"/> on containerd 1.7 with its own ctr.</summary>
[Collection(EndToEndCollection.Name)]
[Trait("Category", "EndToEnd")]
[Trait("Requires", "root")]
[Trait("Runtime", "wasmkata")]
public sealed class WasmTerminalOnContainerd17Spec(Containerd17Fixture fixture) : WasmTerminalSpec(fixture), IClassFixture<Containerd17Fixture>;

/// <summary><see cref="WasmTerminalSpec"/> on containerd 2.x with Debian 12's ctr.</summary>
[Collection(EndToEndCollection.Name)]
[Trait("Category", "EndToEnd")]
[Trait("Requires", "root")]
[Trait("Runtime", "wasmkata")]
public sealed class WasmTerminalOnContainerd2Spec(Containerd2Fixture fixture) : WasmTerminalSpec(fixture), IClassFixture<Containerd2Fixture>;
