using System.Text;
using WasmKata.Linux.Io;
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
        using var user = UserTerminal.Start(Ctr, 91, 29, Ctr.RunArgs(Ctr.WasmRuntime, image, id, ["--rm", "-t"], "/app.wasm"));
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

    [Fact]
    public async Task Ctrl_c_on_a_terminal_must_end_the_guest_with_130()
    {
        var image = await fixture.Images.WasmAsync(new WasmImage("cat"));
        var id = ContainerdFixture.NewId("ttyint");
        using var user = UserTerminal.Start(Ctr, 80, 24, Ctr.RunArgs(Ctr.WasmRuntime, image, id, ["--rm", "-t"], "/app.wasm"));
        await Ctr.WaitForTaskStatusAsync(id, "RUNNING", Long);
        await user.WaitUntilRaw();

        await user.Type("never sent\x03");
        var run = await user.WaitAsync(Long, () => fixture.LogTail());
        Assert.True(run.ExitCode == 130, $"{user.Output}\n{Ctr.Explain(run)}");
        Assert.DoesNotContain("never sent\r", user.Output);
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
            using var user = UserTerminal.Start(Ctr, 100, 30, ["task", "exec", "-t", "--exec-id", "sh1", id, "/cat.wasm"]);
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

    // The shim holds each guest terminal's slave; the task's pid is a thread of the shim, whose fds /proc shows.
    private async Task AssertGuestTerminalSize(string id, int columns, int rows)
    {
        var ls = await Ctr.RunAsync("task", "ls");
        var pid = ls.StdoutText.Split('\n').Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .First(row => row.Length > 1 && row[0] == id)[1];
        var deadline = DateTime.UtcNow + Long;
        List<(string, (ushort, ushort))> seen;
        while (true)
        {
            seen = new DirectoryInfo($"/proc/{pid}/fd").EnumerateFileSystemInfos()
                .Select(fd => fd.LinkTarget)
                .Where(target => target?.StartsWith("/dev/pts/", StringComparison.Ordinal) == true)
                .Distinct()
                .Select(target => (target!, Pty.WindowSizeOf(target!)))
                .ToList();
            if (seen.Any(t => t.Item2 == ((ushort)columns, (ushort)rows)) || DateTime.UtcNow > deadline)
                break;
            await Task.Delay(20);
        }
        Assert.True(seen.Any(t => t.Item2 == ((ushort)columns, (ushort)rows)),
            $"no terminal of the shim is {columns}x{rows}: {string.Join(", ", seen.Select(t => $"{t.Item1} {t.Item2}"))}");
    }

    /// <summary>The user's terminal: a pty whose slave is ctr's stdin, stdout and stderr; the spec types on the master.</summary>
    private sealed class UserTerminal : IDisposable
    {
        private readonly Pty _pty;
        private readonly ChildProcess _ctr;
        private readonly MemoryStream _output = new();
        private readonly Lock _gate = new();
        private readonly Task _reading;

        private UserTerminal(Pty pty, ChildProcess ctr)
        {
            _pty = pty;
            _ctr = ctr;
            _reading = ReadAsync();
        }

        public string Output
        {
            get
            {
                lock (_gate)
                    return Encoding.UTF8.GetString(_output.GetBuffer(), 0, (int)_output.Length);
            }
        }

        public static UserTerminal Start(Ctr ctr, ushort columns, ushort rows, IEnumerable<string> args)
        {
            var pty = Pty.Open();
            pty.Resize(columns, rows);
            var command = string.Join(' ', new[] { "ctr", "-a", ctr.Address, "-n", ctr.Namespace }.Concat(args).Select(Quote));
            // Not a session leader, the child never takes the pty as its controlling terminal; ctr needs none.
            var child = ChildProcess.Start("sh", ["-c", $"exec {command} <>{pty.SlavePath} >&0 2>&0"]);
            return new UserTerminal(pty, child);
        }

        public Task Type(string keys) => _pty.Master.WriteAsync(Encoding.ASCII.GetBytes(keys)).AsTask().WaitAsync(Long);

        /// <summary>Resizes the window and tells ctr, as a terminal emulator's SIGWINCH would.</summary>
        public void Resize(ushort columns, ushort rows)
        {
            _pty.Resize(columns, rows);
            using var kill = System.Diagnostics.Process.Start("kill", ["-WINCH", _ctr.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
            kill.WaitForExit();
        }

        public async Task WaitForOutput(string expected, Func<int, string> logTail)
        {
            var deadline = DateTime.UtcNow + Long;
            while (!Output.Replace("\r", "").Contains(expected, StringComparison.Ordinal))
            {
                if (DateTime.UtcNow > deadline)
                    Assert.Fail($"the terminal never showed {Escape(expected)}; it shows {Escape(Output)}; stty: {Stty()}\n{logTail(60)}");
                await Task.Delay(20);
            }
        }

        /// <summary>Waits until ctr has put the terminal in raw mode: keys typed before would be echoed here, not by the guest's terminal.</summary>
        public async Task WaitUntilRaw()
        {
            var deadline = DateTime.UtcNow + Long;
            while (!Stty().Contains("-icanon", StringComparison.Ordinal))
            {
                if (DateTime.UtcNow > deadline)
                    Assert.Fail($"ctr never set its terminal raw: {Stty()}");
                await Task.Delay(20);
            }
        }

        private string Stty()
        {
            using var stty = System.Diagnostics.Process.Start(
                new System.Diagnostics.ProcessStartInfo("stty", ["-a", "-F", _pty.SlavePath]) { RedirectStandardOutput = true })!;
            var text = stty.StandardOutput.ReadToEnd();
            stty.WaitForExit();
            return text;
        }

        public Task<ProcessResult> WaitAsync(TimeSpan timeout, Func<string> context) => _ctr.WaitAsync(timeout, context);

        public void Dispose()
        {
            _ctr.Kill();
            _ctr.Dispose();
            _pty.Dispose();
        }

        private async Task ReadAsync()
        {
            var chunk = new byte[4096];
            try
            {
                int n;
                while ((n = await _pty.Master.ReadAsync(chunk)) > 0)
                {
                    lock (_gate)
                        _output.Write(chunk, 0, n);
                }
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException)
            {
                // ctr left (EIO) or the spec is done.
            }
        }

        private static string Quote(string arg) => "'" + arg.Replace("'", "'\\''") + "'";

        private static string Escape(string text) => text.Replace("\r", "\\r").Replace("\n", "\\n").Replace("\x03", "^C").Replace("\x04", "^D");
    }
}
