using System.Text;
using Akka.Actor;
using Akka.TestKit.Xunit2;
using WasmKata.Actors.Io;
using WasmKata.Linux.Io;
using Xunit;

namespace WasmKata.Specs.Actors;

/// <summary>The terminal pumps between containerd's stdin/stdout FIFOs, a real pty and the guest's stdin pipe and output buffer.</summary>
public sealed class TerminalSpec : TestKit, IDisposable
{
    private static readonly TimeSpan Long = TimeSpan.FromSeconds(10);
    private readonly string _dir = Directory.CreateTempSubdirectory("wk-tty-").FullName;
    private readonly Pty _pty = Pty.Open();
    private readonly GuestInputPipe _pipe = new();
    private readonly OutputBuffer _output = new(64 * 1024);
    private readonly FileStream _guestStdin;
    private readonly AsyncFd _stdout;
    private readonly string _stdinPath;

    public TerminalSpec()
    {
        _stdinPath = Path.Combine(_dir, "stdin");
        var stdoutPath = Path.Combine(_dir, "stdout");
        Fifo.Create(_stdinPath);
        Fifo.Create(stdoutPath);
        _stdout = Fifo.OpenReader(stdoutPath);
        _guestStdin = new FileStream(_pipe.ReadEndPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, bufferSize: 0);
        _pipe.ReleaseReadEnd();
        Terminal = ChildActorOf(PumpProtocol.Terminal(new PumpProtocol.TerminalSetup(
            _stdinPath, stdoutPath, _pty, _pipe, _output, TimeSpan.FromMilliseconds(50))), PumpProtocol.TerminalStream);
    }

    private IActorRef Terminal { get; }

    void IDisposable.Dispose()
    {
        Dispose();
        _guestStdin.Dispose();
        _stdout.Dispose();
        _pipe.Dispose();
        _pty.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task A_typed_line_must_reach_the_guest_and_its_echo_the_client()
    {
        using var stdin = await OpenStdin();
        await stdin.WriteAsync("hello\r"u8.ToArray()).AsTask().WaitAsync(Long);

        Assert.Equal("hello\n", await GuestReads(6));
        Assert.Equal("hello\r\n", await ClientReads(7));
    }

    [Fact]
    public async Task Guest_output_must_reach_the_client_as_a_terminal_shows_it_and_drain_only_once_read()
    {
        _output.Write("out\nerr\n"u8);
        Assert.Equal("out\r\nerr\r\n", await ClientReads(10));
        _output.Write("bye\n"u8);
        _output.Complete();

        // Everything sits unread in the FIFO: not drained yet.
        await ExpectNoMsgAsync(TimeSpan.FromMilliseconds(200));
        Assert.Equal("bye\r\n", await ClientReads(5));
        var drained = await ExpectMsgAsync<PumpProtocol.PumpDrained>(Long);
        Assert.Equal(PumpProtocol.TerminalStream, drained.Stream);
        Assert.Equal(15, drained.Bytes);
    }

    [Theory]
    [InlineData("\x03", 2)]
    [InlineData("ab\x1c", 3)]
    public async Task Intr_and_quit_characters_must_ask_to_end_the_guest_with_the_signal_a_tty_raises(string typed, int signal)
    {
        using var stdin = await OpenStdin();
        await stdin.WriteAsync(Encoding.ASCII.GetBytes(typed)).AsTask().WaitAsync(Long);

        Assert.Equal(signal, (await ExpectMsgAsync<PumpProtocol.TerminalInterrupt>(Long)).Signal);
    }

    [Fact]
    public async Task The_end_of_the_client_input_must_hand_over_a_partly_typed_line_then_eof()
    {
        var stdin = await OpenStdin();
        await stdin.WriteAsync("partial"u8.ToArray()).AsTask().WaitAsync(Long);
        stdin.Dispose();

        Assert.Equal("partial", await GuestReads(7));
        Assert.Equal(0, await Task.Factory.StartNew(() => _guestStdin.Read(new byte[16]), TaskCreationOptions.LongRunning).WaitAsync(Long));
    }

    [Fact]
    public async Task Close_input_now_must_end_a_blocked_guest_read_at_once()
    {
        var read = Task.Factory.StartNew(() => _guestStdin.Read(new byte[16]), TaskCreationOptions.LongRunning);
        await Task.Delay(100);
        Assert.False(read.IsCompleted);

        Terminal.Tell(new PumpProtocol.CloseInput(true));

        Assert.Equal(0, await read.WaitAsync(TimeSpan.FromMilliseconds(500)));
    }

    private async Task<AsyncFd> OpenStdin()
    {
        // The client's end opens once the terminal reads the FIFO, so that closing it is an EOF the terminal sees.
        AsyncFd? stdin = null;
        await AwaitConditionAsync(() => Task.FromResult((stdin = Fifo.TryOpenWriteOnly(_stdinPath)) is not null), Long);
        return stdin!;
    }

    private async Task<string> GuestReads(int count)
    {
        var buffer = new byte[count];
        var filled = 0;
        while (filled < count)
        {
            var n = await Task.Factory.StartNew(() => _guestStdin.Read(buffer, filled, count - filled), TaskCreationOptions.LongRunning).WaitAsync(Long);
            Assert.True(n > 0, $"EOF after {filled} bytes");
            filled += n;
        }
        return Encoding.ASCII.GetString(buffer);
    }

    private async Task<string> ClientReads(int count)
    {
        var buffer = new byte[count];
        var filled = 0;
        while (filled < count)
        {
            var n = await _stdout.ReadAsync(buffer.AsMemory(filled)).AsTask().WaitAsync(Long);
            Assert.True(n > 0, $"EOF after {filled} bytes");
            filled += n;
        }
        return Encoding.ASCII.GetString(buffer);
    }
}
