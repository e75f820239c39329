using Akka.Actor;
using Akka.Event;
using WasmKata.Core;
using WasmKata.Linux;
using WasmKata.Linux.Io;

namespace WasmKata.Actors.Io;

/// <summary>
/// A guest's terminal (<c>terminal: true</c>): a pty of its own between containerd's FIFOs and the guest. Four copies
/// run, each one async loop whose end comes back as a message: stdin FIFO → master (the line discipline echoes and
/// edits), slave → the guest's stdin pipe, the guest's output buffer (fd 1 and 2 alike) → slave (the line
/// discipline turns "\n" into "\r\n"), master → stdout FIFO. stderr is not used, as runc's shim ignores it.
/// </summary>
/// <remarks>
/// The guest keeps its plain stdin pipe and output buffer, so kill and drain hold exactly as with plain stdio: a
/// kill closes the pipe (a blocked read returns at once) and aborts the buffer. Drain: once the buffer ended, the
/// slave is closed; the master then yields what is left and EIO, and the exit waits until the FIFO's reader took it.
/// The pty has no foreground process group, so the kernel's ISIG raises no signal: this actor watches the input for
/// the INTR and QUIT characters (^C, ^\) and asks its parent to end the guest with SIGINT or SIGQUIT instead.
/// </remarks>
internal sealed class TerminalActor : ReceiveActor, IWithTimers
{
    private const byte Intr = 0x03;
    private const byte Quit = 0x1c;

    // Two end-of-file characters: the first hands over a partly typed line, the second reads as EOF (0 bytes).
    private static readonly byte[] EndOfInput = [0x04, 0x04];

    private readonly PumpProtocol.TerminalSetup _setup;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly CancellationTokenSource _stop = new();
    private readonly CancellationTokenSource _input = new();

    public TerminalActor(PumpProtocol.TerminalSetup setup)
    {
        _setup = setup;
        Receive<InputEnded>(_ => EndInput());
        Receive<Ignored>(_ => { });
        Receive<PumpProtocol.CloseInput>(c =>
        {
            if (c.Now)
            {
                _input.Cancel();
                _setup.GuestStdin.Writer.Dispose();
            }
            else
            {
                // CloseIO follows the client closing its end: give input already in the FIFO a moment to pass.
                Timers.StartSingleTimer("close", InputEnded.Instance, _setup.CloseGrace);
            }
        });
        Receive<GuestOutputEnded>(_ => _setup.Pty.CloseSlave());
        Receive<MasterDrained>(d =>
        {
            if (d.Unread > 0)
                _log.Info("terminal: the reader of {Target} left with {Unread} bytes unread", _setup.Stdout, d.Unread);
            Context.Parent.Tell(new PumpProtocol.PumpDrained(PumpProtocol.TerminalStream, d.Bytes));
            Context.Stop(Self);
        });
        Receive<PumpProtocol.ReaderGone>(gone => Context.Parent.Tell(gone));
        Receive<Status.Failure>(f =>
        {
            if (f.Cause is OperationCanceledException or ObjectDisposedException)
                return;
            _log.Error(f.Cause, "terminal: pump failed");
            throw new IOException("terminal pump failed", f.Cause);
        });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    protected override void PreStart()
    {
        var pty = _setup.Pty;
        var self = Self;
        FromStdinFifo(pty, Context.Parent).PipeTo(self, failure: e => new Status.Failure(e));
        ToGuest(pty.Slave).PipeTo(self, failure: e => new Status.Failure(e));
        FromGuest(pty.Slave).PipeTo(self, failure: e => new Status.Failure(e));
        ToStdout(pty.Master, self).PipeTo(self, failure: e => new Status.Failure(e));
    }

    protected override void PostStop()
    {
        _stop.Cancel();
        _input.Cancel();
        _setup.GuestStdin.Writer.Dispose();
        // The slave goes with the pumps (the master reader would wait for it for ever); the owner closes the master.
        _setup.Pty.CloseSlave();
        _stop.Dispose();
        _input.Dispose();
    }

    // End of the client's input (its EOF or CloseIO): what was typed reaches the guest, then it reads EOF.
    private void EndInput()
    {
        if (!_stop.IsCancellationRequested)
            _input.Cancel();
    }

    private async Task<object> FromStdinFifo(Pty pty, IActorRef parent)
    {
        if (_setup.Stdin.Length == 0)
            return Ignored.Instance; // No client input: the guest waits on its terminal, as on a tty nobody types on.
        AsyncFd fifo;
        try
        {
            fifo = Fifo.OpenReader(_setup.Stdin);
        }
        catch (Exception e)
        {
            _log.Warning("terminal: cannot open stdin {Path}: {Error}", _setup.Stdin, e.Message);
            return Ignored.Instance;
        }
        using (fifo)
        {
            var chunk = new byte[16 * 1024];
            try
            {
                int n;
                while ((n = await fifo.ReadAsync(chunk, _input.Token).ConfigureAwait(false)) > 0)
                {
                    await pty.Master.WriteAsync(chunk.AsMemory(0, n), _input.Token).ConfigureAwait(false);
                    if (Interrupt(chunk.AsSpan(0, n)) is { } signal)
                        parent.Tell(new PumpProtocol.TerminalInterrupt(signal));
                }
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or IOException)
            {
                // Input ended early (CloseIO, kill, a failed FIFO): what was read so far still counts.
            }
        }
        try
        {
            await pty.Master.WriteAsync(EndOfInput, _stop.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or IOException)
        {
            // The terminal is closing anyway.
        }
        return Ignored.Instance;
    }

    /// <summary>The signal the terminal's INTR or QUIT character in <paramref name="input"/> stands for, if any.</summary>
    internal static int? Interrupt(ReadOnlySpan<byte> input)
    {
        var at = input.IndexOfAny(Intr, Quit);
        return at < 0 ? null : input[at] == Intr ? SignalNumber.Int : SignalNumber.Quit;
    }

    private async Task<object> ToGuest(AsyncFd slave)
    {
        var chunk = new byte[16 * 1024];
        try
        {
            int n;
            while ((n = await slave.ReadAsync(chunk, _stop.Token).ConfigureAwait(false)) > 0)
                await _setup.GuestStdin.Writer.WriteAsync(chunk.AsMemory(0, n), _stop.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or IOException)
        {
            // Slave closed (the guest ended) or the guest's stdin was closed (kill): nothing more to hand over.
        }
        // A read of 0 is the terminal's EOF (^D on an empty line): the guest's stdin ends.
        _setup.GuestStdin.Writer.Dispose();
        return Ignored.Instance;
    }

    private async Task<object> FromGuest(AsyncFd slave)
    {
        var writable = true;
        while (await _setup.Output.ReadAsync(_stop.Token).ConfigureAwait(false) is { } chunk)
        {
            if (!writable)
                continue;
            try
            {
                await slave.WriteAsync(chunk, _stop.Token).ConfigureAwait(false);
            }
            catch (IOException e)
            {
                // The rest is read and dropped, so the guest never blocks on a full buffer.
                _log.Warning("terminal: writing to {Path} failed: {Error}; output is discarded", _setup.Pty.SlavePath, e.Message);
                writable = false;
            }
        }
        return GuestOutputEnded.Instance;
    }

    private async Task<object> ToStdout(AsyncFd master, IActorRef self)
    {
        OutputTarget? target = null;
        if (_setup.Stdout.Length > 0)
        {
            try
            {
                target = OutputTarget.Open(_setup.Stdout);
            }
            catch (Exception e)
            {
                _log.Warning("terminal: cannot open {Target}: {Error}; output is discarded", _setup.Stdout, e.Message);
            }
        }
        using var owned = target;
        var chunk = new byte[64 * 1024];
        long bytes = 0;
        while (true)
        {
            int n;
            try
            {
                n = await master.ReadAsync(chunk, _stop.Token).ConfigureAwait(false);
            }
            catch (IOException e) when (Pty.IsSlaveClosed(e))
            {
                break; // The slave is closed and everything it wrote was read.
            }
            if (n == 0)
                break;
            bytes += n;
            if (target is null)
                continue;
            try
            {
                await target.WriteAsync(chunk.AsMemory(0, n), _stop.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException and not ObjectDisposedException)
            {
                if (e is not BrokenPipeException)
                    _log.Warning("terminal: write to {Target} failed: {Error}; output is discarded", _setup.Stdout, e.Message);
                target.Dispose();
                target = null;
                self.Tell(new PumpProtocol.ReaderGone(PumpProtocol.TerminalStream));
            }
        }
        // Drained means read, not written: the exit goes out once this completes.
        var unread = target is null ? 0 : await target.WaitUntilReadAsync(_stop.Token).ConfigureAwait(false);
        return new MasterDrained(bytes, unread);
    }

    private sealed record InputEnded
    {
        public static readonly InputEnded Instance = new();
    }

    private sealed record GuestOutputEnded
    {
        public static readonly GuestOutputEnded Instance = new();
    }

    private sealed record MasterDrained(long Bytes, int Unread);

    private sealed record Ignored
    {
        public static readonly Ignored Instance = new();
    }
}
