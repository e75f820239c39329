using System.Diagnostics;
using System.Text;
using Akka.Actor;
using Akka.TestKit.Xunit2;
using WasmKata.Actors;
using WasmKata.Actors.Sandbox;
using WasmKata.Core;
using WasmKata.Engine;
using WasmKata.Linux.Io;
using Xunit;
using Xunit.Abstractions;
using static WasmKata.Actors.TaskProtocol;

namespace WasmKata.Specs.Actors;

/// <summary>Guests on a terminal (<c>terminal: true</c>) through the sandbox, with a real pty and containerd-style FIFOs.</summary>
public sealed class TerminalProcessSpec : TestKit
{
    private static readonly TimeSpan Long = TimeSpan.FromSeconds(10);
    private readonly WasmEngine _engine = new(new EngineOptions());
    private readonly RecordingEventSink _sink = new();
    private readonly TestBundle _bundle = new(Wat.Cat);
    private readonly IActorRef _sandbox;
    private readonly string _stateRoot = Directory.CreateTempSubdirectory("wk-state-").FullName;
    private readonly List<IDisposable> _fds = [];
    private readonly ITestOutputHelper _output;

    public TerminalProcessSpec(ITestOutputHelper output) : base("akka.loglevel = INFO", output)
    {
        _output = output;
        var settings = new RuntimeSettings { Namespace = "spec", StateRoot = _stateRoot, ReapOrphans = false };
        _sandbox = Sys.ActorOf(SandboxProtocol.Props(_engine, _sink, settings, new NoExit()), "sandbox");
    }

    protected override void AfterAll()
    {
        base.AfterAll();
        Shutdown();
        foreach (var fd in _fds)
            fd.Dispose();
        _bundle.Dispose();
        _engine.Dispose();
        Directory.Delete(_stateRoot, recursive: true);
    }

    [Fact]
    public async Task A_guest_on_a_terminal_must_read_typed_lines_echo_and_exit_at_end_of_file()
    {
        var (stdin, stdout) = await StartInit("cat");
        await stdin.WriteAsync("ping\r"u8.ToArray()).AsTask().WaitAsync(Long);

        // The terminal's echo of the typed line, then the guest's copy of it, both with terminal line ends.
        Assert.Equal("ping\r\nping\r\n", await Reads(stdout, 12));
        var wait = _sandbox.Ask<object>(new WaitTask("cat", ""), Long);
        await stdin.WriteAsync("\x04"u8.ToArray()).AsTask().WaitAsync(Long);
        Assert.Equal(0u, Assert.IsType<Exited>(await wait).ExitStatus);
        Assert.True(Assert.IsType<ProcessView>(await _sandbox.Ask<object>(new QueryState("cat", ""), Long)).Stdio.Terminal);
    }

    [Fact]
    public async Task Ctrl_c_must_end_the_guest_as_sigint_does()
    {
        var (stdin, _) = await StartInit("intr");
        var wait = _sandbox.Ask<object>(new WaitTask("intr", ""), Long);
        await stdin.WriteAsync("half a line\x03"u8.ToArray()).AsTask().WaitAsync(Long);

        Assert.Equal((uint)ExitStatus.Signalled(2), Assert.IsType<Exited>(await wait).ExitStatus);
    }

    [Fact]
    public async Task Kill_must_end_a_guest_blocked_reading_its_terminal_within_100ms()
    {
        var (_, stdout) = await StartInit("kill");
        await Task.Delay(100);
        var wait = _sandbox.Ask<object>(new WaitTask("kill", ""), Long);
        var watch = Stopwatch.StartNew();
        Assert.IsType<Done>(await _sandbox.Ask<object>(new KillTask("kill", "", 9, false), Long));

        Assert.Equal(137u, Assert.IsType<Exited>(await wait).ExitStatus);
        _output.WriteLine($"kill to exit reported: {watch.Elapsed.TotalMilliseconds:F1} ms");
        Assert.True(watch.ElapsedMilliseconds < 100, $"kill took {watch.ElapsedMilliseconds} ms");
    }

    [Fact]
    public async Task ResizePty_must_size_the_terminal_and_refuse_a_stopped_process()
    {
        var (stdin, _) = await StartInit("resize");
        Assert.IsType<Done>(await _sandbox.Ask<object>(new ResizePty("resize", "", 117, 41), Long));
        Assert.Contains(OurTerminals(), path => Pty.WindowSizeOf(path) == (117, 41));

        var wait = _sandbox.Ask<object>(new WaitTask("resize", ""), Long);
        await stdin.WriteAsync("\x04"u8.ToArray()).AsTask().WaitAsync(Long);
        Assert.IsType<Exited>(await wait);
        var refused = Assert.IsType<CommandFailed>(await _sandbox.Ask<object>(new ResizePty("resize", "", 80, 24), Long));
        Assert.Equal(FailureCode.FailedPrecondition, refused.Code);
        Assert.Contains("stopped", refused.Message);
    }

    [Fact]
    public async Task An_exec_must_get_a_terminal_of_its_own()
    {
        await StartInit("host");
        var (stdinPath, stdoutPath) = Fifos("host-exec");
        using var stdout = Fifo.OpenReader(stdoutPath);
        var spec = """{"args":["/app.wasm"],"cwd":"/","terminal":true}""";
        Assert.IsType<Done>(await _sandbox.Ask<object>(new AddExec("host", "tty", spec, new Stdio(stdinPath, stdoutPath, "", true)), Long));
        Assert.IsType<Started>(await _sandbox.Ask<object>(new StartTask("host", "tty"), Long));
        using var stdin = await OpenWriter(stdinPath);
        await stdin.WriteAsync("in exec\r"u8.ToArray()).AsTask().WaitAsync(Long);

        Assert.Equal("in exec\r\nin exec\r\n", await Reads(stdout, 18));
        var wait = _sandbox.Ask<object>(new WaitTask("host", "tty"), Long);
        await stdin.WriteAsync("\x04"u8.ToArray()).AsTask().WaitAsync(Long);
        Assert.Equal(0u, Assert.IsType<Exited>(await wait).ExitStatus);
    }

    [Fact]
    public async Task An_exec_with_a_consoleSize_must_start_on_a_terminal_of_that_size()
    {
        await StartInit("sized");
        var (stdinPath, stdoutPath) = Fifos("sized-exec");
        using var stdout = Fifo.OpenReader(stdoutPath);
        var spec = """{"args":["/app.wasm"],"cwd":"/","terminal":true,"consoleSize":{"height":33,"width":99}}""";
        Assert.IsType<Done>(await _sandbox.Ask<object>(new AddExec("sized", "tty", spec, new Stdio(stdinPath, stdoutPath, "", true)), Long));
        Assert.IsType<Started>(await _sandbox.Ask<object>(new StartTask("sized", "tty"), Long));

        // No ResizePty came: the size is the spec's from the start.
        Assert.Contains(OurTerminals(), path => Pty.WindowSizeOf(path) == (99, 33));
        using var stdin = await OpenWriter(stdinPath);
        var wait = _sandbox.Ask<object>(new WaitTask("sized", "tty"), Long);
        await stdin.WriteAsync("\x04"u8.ToArray()).AsTask().WaitAsync(Long);
        Assert.Equal(0u, Assert.IsType<Exited>(await wait).ExitStatus);
    }

    private async Task<(AsyncFd Stdin, AsyncFd Stdout)> StartInit(string id)
    {
        var (stdinPath, stdoutPath) = Fifos(id);
        var stdout = Fifo.OpenReader(stdoutPath);
        _fds.Add(stdout);
        // CRI passes a stderr FIFO with a terminal too, and never reads it: the shim must not need it.
        Assert.IsType<Created>(await _sandbox.Ask<object>(
            new CreateTask(id, _bundle.Path, [], new Stdio(stdinPath, stdoutPath, Path.Combine(_bundle.Path, id + "-stderr"), true)), Long));
        Assert.IsType<Started>(await _sandbox.Ask<object>(new StartTask(id, ""), Long));
        var stdin = await OpenWriter(stdinPath);
        _fds.Add(stdin);
        return (stdin, stdout);
    }

    private (string Stdin, string Stdout) Fifos(string id)
    {
        var stdin = Path.Combine(_bundle.Path, id + "-stdin");
        var stdout = Path.Combine(_bundle.Path, id + "-stdout");
        Fifo.Create(stdin);
        Fifo.Create(stdout);
        return (stdin, stdout);
    }

    private async Task<AsyncFd> OpenWriter(string path)
    {
        AsyncFd? writer = null;
        await AwaitConditionAsync(() => Task.FromResult((writer = Fifo.TryOpenWriteOnly(path)) is not null), Long);
        return writer!;
    }

    private static async Task<string> Reads(AsyncFd fd, int count)
    {
        var buffer = new byte[count];
        var filled = 0;
        while (filled < count)
        {
            var n = await fd.ReadAsync(buffer.AsMemory(filled)).AsTask().WaitAsync(Long);
            Assert.True(n > 0, $"EOF after {Encoding.ASCII.GetString(buffer, 0, filled)}");
            filled += n;
        }
        return Encoding.ASCII.GetString(buffer);
    }

    // The ptys this process holds (the shim's guests run in it): their slaves' paths.
    private static IEnumerable<string> OurTerminals() =>
        new DirectoryInfo("/proc/self/fd").EnumerateFileSystemInfos()
            .Select(fd => fd.LinkTarget)
            .Where(target => target is not null && target.StartsWith("/dev/pts/", StringComparison.Ordinal))
            .Select(target => target!)
            .Distinct()
            .ToList();
}
