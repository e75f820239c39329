using Akka.Actor;
using Akka.TestKit.Xunit2;
using WasmKata.Actors;
using WasmKata.Actors.Events;
using WasmKata.Actors.Sandbox;
using WasmKata.Engine;
using WasmKata.Linux.Io;
using Xunit;
using Xunit.Abstractions;
using static WasmKata.Actors.TaskProtocol;

namespace WasmKata.Specs.Actors;

/// <summary>
/// An exit goes up only once the reader has taken all of the guest's output out of containerd's FIFO: ctr 1.6 closes
/// its FIFOs when it learns of the exit, and what the pipe still held (up to 1 MiB) was lost with exit 0.
/// </summary>
public sealed class ExitAfterReadSpec : TestKit
{
    private static readonly TimeSpan Long = TimeSpan.FromSeconds(15);
    private readonly WasmEngine _engine = new(new EngineOptions());
    private readonly RecordingEventSink _sink = new();
    private readonly TestBundle _bundle;
    private readonly IActorRef _sandbox;
    private readonly string _stateRoot = Directory.CreateTempSubdirectory("wk-state-").FullName;

    public ExitAfterReadSpec(ITestOutputHelper output) : base("akka.loglevel = INFO", output)
    {
        // 256 KiB fits the widened FIFO: the guest and its pump are done long before anyone reads.
        _bundle = new TestBundle(SupervisionSpec.WriteThenExit(256, 0));
        var settings = new RuntimeSettings { Namespace = "spec", StateRoot = _stateRoot, ReapOrphans = false, DrainTimeout = TimeSpan.FromMinutes(2) };
        _sandbox = Sys.ActorOf(SandboxProtocol.Props(_engine, _sink, settings, new NoExit()), "sandbox");
    }

    protected override void AfterAll()
    {
        base.AfterAll();
        Shutdown();
        _bundle.Dispose();
        _engine.Dispose();
        Directory.Delete(_stateRoot, recursive: true);
    }

    [Fact]
    public async Task The_exit_must_wait_until_the_reader_took_all_output_out_of_the_fifo()
    {
        const int bytes = 256 * 1024;
        var fifo = Path.Combine(_bundle.Path, "stdout");
        Fifo.Create(fifo);
        using var reader = Fifo.OpenReader(fifo);
        var pid = Assert.IsType<Created>(await _sandbox.Ask<object>(
            new CreateTask("unread", _bundle.Path, [], new Stdio("", fifo, "", false)), Long)).Pid;
        var wait = _sandbox.Ask<object>(new WaitTask("unread", ""), Long * 2);
        Assert.IsType<Started>(await _sandbox.Ask<object>(new StartTask("unread", ""), Long));

        // The guest has ended and all its output sits in the FIFO, unread.
        await AwaitAssertAsync(() => Assert.False(Directory.Exists($"/proc/self/task/{pid}"), "guest thread still running"), Long);
        await AwaitAssertAsync(() => Assert.Equal(bytes, reader.PipeBacklog().Unread), Long);
        await Task.Delay(300);
        Assert.False(wait.IsCompleted, "the exit went up while the FIFO still held unread output");
        Assert.DoesNotContain(_sink.Events.OfType<TaskExited>(), e => e.ContainerId == "unread");

        var buffer = new byte[64 * 1024];
        long read = 0;
        while (read < bytes)
        {
            var n = await reader.ReadAsync(buffer).AsTask().WaitAsync(Long);
            Assert.True(n > 0, $"EOF after {read} of {bytes} bytes");
            read += n;
        }

        Assert.Equal(0u, Assert.IsType<Exited>(await wait).ExitStatus);
        await AwaitAssertAsync(() => Assert.Contains(_sink.Events.OfType<TaskExited>(), e => e.ContainerId == "unread" && e.ExitStatus == 0));
        Assert.IsType<Exited>(await _sandbox.Ask<object>(new DeleteTask("unread", ""), Long));
    }
}
