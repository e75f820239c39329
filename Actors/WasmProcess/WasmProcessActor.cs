using Akka.Actor;
using Akka.Event;
using WasmKata.Actors.Io;
using WasmKata.Core;
using WasmKata.Engine;
using WasmKata.Linux.Io;
using static WasmKata.Actors.WasmProcess.WasmProcessProtocol;

namespace WasmKata.Actors.WasmProcess;

/// <summary>
/// One guest: Preparing → Created → Running → Draining → Stopped. It owns the guest thread, the output buffers and
/// the stdin pipe, spawns the pumps, and reports an exit only after stdout and stderr have drained.
/// </summary>
internal sealed class WasmProcessActor : ReceiveActor, IWithTimers
{
    private readonly Launch _launch;
    private readonly WasmEngine _engine;
    private readonly RuntimeSettings _settings;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Dictionary<string, OutputBuffer> _outputs = [];
    private readonly HashSet<string> _undrained = [];
    private GuestInputPipe? _stdinPipe;
    private Pty? _pty;
    private IActorRef? _stdinPump;
    private IGuestRunner? _guest;
    private uint _pid;
    private GuestFinished? _finished;
    private bool _reported;

    public WasmProcessActor(Launch launch, WasmEngine engine, RuntimeSettings settings)
    {
        _launch = launch;
        _engine = engine;
        _settings = settings;
        Preparing();
    }

    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>Pumps own fds: a failed one is stopped, never restarted (a restart would read its buffer twice).</summary>
    protected override SupervisorStrategy SupervisorStrategy() => StopOwnersStrategy.StopAll;

    private string ExecId => _launch.ExecId;

    /// <summary>How logs name the process: init, or the exec id.</summary>
    private string Label => ExecId.Length == 0 ? "init" : ExecId;

    protected override void PreStart()
    {
        if (_launch.ModulePath.Length == 0)
        {
            // A pod sandbox's placeholder: no guest and no thread; it "runs" until a signal ends it.
            Self.Tell(new GuestReady((uint)Environment.ProcessId));
            return;
        }
        var stdio = _launch.Stdio;
        var guestStdio = stdio.Terminal ? OpenTerminal(stdio) : OpenPlainStdio(stdio);
        if (guestStdio is null)
            return;
        var pipe = _stdinPipe;
        var name = $"guest {_launch.ContainerId}/{ExecId}";
        _guest = _settings.GuestHost is { } host
            // Both streams are this actor's OutputBuffers (OpenOutput, OpenTerminal), which a guest host's copy awaits.
            ? GuestProcess.Launch(_engine, host, _launch.ModulePath, _launch.Guest, pipe, guestStdio.Stdout as OutputBuffer, guestStdio.Stderr as OutputBuffer,
                Self, () => pipe?.ReleaseReadEnd(), name, _launch.Namespaces, _launch.Cpu)
            : GuestThread.Launch(_engine, _launch.ModulePath, _launch.Guest, guestStdio, Self, () => pipe?.ReleaseReadEnd(), name,
                _launch.Namespaces, _launch.Cpu);
    }

    protected override void PostStop()
    {
        // Stopped from above (delete, shutdown) while the guest may still run: end it and release everything.
        _guest?.Kill(SignalNumber.Kill);
        foreach (var output in _outputs.Values)
            output.Abort();
        _stdinPipe?.Dispose();
        _pty?.Dispose();
        // Stopped after the guest ended but before the exit went up (this actor failed): the status must not be lost.
        if (_finished is { } finished && !_reported)
            Context.Parent.Tell(new ProcessExited(ExecId, _pid, (uint)finished.Status, finished.At, finished.Trap));
    }

    private GuestStdio OpenPlainStdio(TaskProtocol.Stdio stdio)
    {
        var stdout = OpenOutput(stdio.Stdout, "stdout");
        var stderr = OpenOutput(stdio.Stderr, "stderr");
        string? stdinPath = null;
        if (stdio.Stdin.Length > 0)
        {
            _stdinPipe = new GuestInputPipe();
            stdinPath = _stdinPipe.ReadEndPath;
            _stdinPump = Context.Watch(Context.ActorOf(PumpProtocol.Input(stdio.Stdin, _stdinPipe, _settings.StdinCloseGrace), "stdin"));
        }
        return new GuestStdio(stdinPath, stdout, stderr);
    }

    /// <summary>
    /// A pty between containerd's stdin/stdout and the guest, which keeps a plain stdin pipe and one output buffer for
    /// fd 1 and 2 (kill and drain as without a terminal). Null, with the failure on its way, if no pty can be had.
    /// </summary>
    private GuestStdio? OpenTerminal(TaskProtocol.Stdio stdio)
    {
        try
        {
            _pty = Pty.Open();
            // The size the client's terminal had at start (docker run -it); a ResizePty changes it later.
            if (_launch.Guest.ConsoleSize is { } size)
                _pty.Resize(size.Columns, size.Rows);
        }
        catch (IOException e)
        {
            Self.Tell(new GuestFailed(FailureCode.Internal, $"cannot open a terminal: {e.Message}"));
            return null;
        }
        var output = new OutputBuffer(_settings.OutputBufferBytes);
        _outputs[PumpProtocol.TerminalStream] = output;
        _undrained.Add(PumpProtocol.TerminalStream);
        _stdinPipe = new GuestInputPipe();
        var setup = new PumpProtocol.TerminalSetup(stdio.Stdin, stdio.Stdout, _pty, _stdinPipe, output, _settings.StdinCloseGrace);
        _stdinPump = Context.Watch(Context.ActorOf(PumpProtocol.Terminal(setup), PumpProtocol.TerminalStream));
        return new GuestStdio(_stdinPipe.ReadEndPath, output, output);
    }

    private OutputBuffer? OpenOutput(string target, string stream)
    {
        if (target.Length == 0)
            return null;
        var buffer = new OutputBuffer(_settings.OutputBufferBytes);
        _outputs[stream] = buffer;
        _undrained.Add(stream);
        Context.Watch(Context.ActorOf(PumpProtocol.Output(buffer, target, stream), stream));
        return buffer;
    }

    private void Preparing()
    {
        Receive<GuestReady>(ready =>
        {
            _pid = ready.Tid;
            ApplyShares(_launch.CpuShares);
            Context.Parent.Tell(new ProcessReady(ExecId, _pid));
            Created();
        });
        Receive<GuestFailed>(failed =>
        {
            Context.Parent.Tell(new ProcessFailed(ExecId, new CommandFailed(failed.Code, failed.Message)));
            Become(Stopped);
        });
        Receive<Signal>(Kill);
        CommonReceives();
    }

    private void Created()
    {
        Become(() =>
        {
            Receive<Start>(_ =>
            {
                _guest?.Start();
                Running();
            });
            Receive<Signal>(Kill);
            Receive<PumpProtocol.TerminalInterrupt>(i => Kill(new Signal(i.Signal)));
            Receive<GuestFinished>(Finished);
            CommonReceives();
        });
    }

    private void Running()
    {
        Become(() =>
        {
            Receive<Signal>(Kill);
            Receive<PumpProtocol.TerminalInterrupt>(i => Kill(new Signal(i.Signal)));
            Receive<GuestFinished>(Finished);
            CommonReceives();
        });
    }

    private void Draining(GuestFinished finished)
    {
        Become(() =>
        {
            Receive<PumpProtocol.PumpDrained>(drained =>
            {
                _undrained.Remove(drained.Stream);
                if (_undrained.Count == 0)
                    Report(finished);
            });
            Receive<DrainTimedOut>(_ =>
            {
                _log.Warning("{Container}/{Exec}: output of {Streams} did not drain in {Timeout}; reporting the exit anyway",
                    _launch.ContainerId, Label, string.Join(",", _undrained), _settings.DrainTimeout);
                foreach (var output in _outputs.Values)
                    output.Abort();
                foreach (var stream in _undrained)
                    Context.Stop(Context.Child(stream));
                _undrained.Clear();
                Report(finished);
            });
            Receive<Signal>(_ => { });
            CommonReceives();
        });
        if (_undrained.Count == 0)
            Report(finished);
        else
            Timers.StartSingleTimer("drain", DrainTimedOut.Instance, _settings.DrainTimeout);
    }

    private void Stopped()
    {
        Receive<Signal>(_ => { });
        CommonReceives();
    }

    private void CommonReceives()
    {
        // A killed guest's buffers end early, so a pump may drain before the exit is known.
        Receive<PumpProtocol.PumpDrained>(drained => _undrained.Remove(drained.Stream));
        Receive<Terminated>(OnPumpTerminated);
        Receive<CloseStdin>(_ => _stdinPump?.Tell(new PumpProtocol.CloseInput(false)));
        Receive<PumpProtocol.ReaderGone>(gone =>
            _log.Info("{Container}/{Exec}: the {Stream} reader went away; further output is discarded", _launch.ContainerId, Label, gone.Stream));
        Receive<PumpProtocol.TerminalInterrupt>(_ => { });
        Receive<ResizeTerminal>(Resize);
        Receive<QueryStats>(q => Sender.Tell(new TaskProtocol.StatsView(_guest?.MemoryBytes ?? 0, q.MemoryLimitBytes, CpuNanoseconds())));
        Receive<Pause>(_ => _guest?.Pause());
        Receive<Resume>(_ => _guest?.Resume());
        Receive<UpdateLimits>(u =>
        {
            _guest?.UpdateLimits(u.MemoryLimitBytes, u.Cpu);
            ApplyShares(u.CpuShares);
        });
        Receive<WasmProcessProtocol.GuestOom>(oom =>
        {
            _log.Warning("{Container}/{Exec}: guest reached its memory limit ({Bytes} of {Limit} bytes); memory.grow now fails",
                _launch.ContainerId, Label, oom.MemoryBytes, oom.LimitBytes);
            Context.Parent.Tell(new ProcessOom(ExecId, oom.MemoryBytes, oom.LimitBytes));
        });
        Receive<DescribeProcess>(_ => Sender.Tell(new ProcessDescription(_launch.ContainerId, ExecId, _pid, _undrained.Order().ToList())));
    }

    // Without a terminal there is nothing to size, and runc answers OK for that too.
    private void Resize(ResizeTerminal resize)
    {
        try
        {
            _pty?.Resize(resize.Columns, resize.Rows);
            Sender.Tell(TaskProtocol.Done.Instance);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            Sender.Tell(new CommandFailed(FailureCode.FailedPrecondition, $"cannot resize the terminal: {e.Message}"));
        }
    }

    // CPU shares weigh the guest's thread against the shim's other threads (and other guests) as the kernel shares a CPU.
    private void ApplyShares(ulong? shares)
    {
        if (shares is not { } value || _guest is null || _pid == 0)
            return;
        try
        {
            WasmKata.Linux.ThreadNice.SetNice((int)_pid, WasmKata.Linux.ThreadNice.NiceForShares(value));
        }
        catch (ArgumentException)
        {
            // The guest thread has ended: nothing left to weigh.
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _log.Warning("{Container}/{Exec}: cannot apply cpu shares {Shares}: {Error}", _launch.ContainerId, Label, value, e.Message);
        }
    }

    // The guest thread's CPU time while it ran wasm code (kept after it ended); the placeholder of a pod has none.
    private ulong CpuNanoseconds() => (ulong)Math.Max(0, _guest?.CpuTimeNs ?? 0);

    private void Kill(Signal signal)
    {
        _log.Info("{Container}/{Exec}: killing guest with signal {Signal}", _launch.ContainerId, Label, signal.Number);
        if (_guest is null)
        {
            Self.Tell(new GuestFinished(ExitStatus.Signalled(signal.Number), null, DateTimeOffset.UtcNow));
            return;
        }
        _guest.Kill(signal.Number);
        foreach (var output in _outputs.Values)
            output.Abort();
        _stdinPump?.Tell(new PumpProtocol.CloseInput(true));
    }

    /// <summary>A pump that stops before it drained has failed: drop the rest of its stream so the guest never blocks on it.</summary>
    private void OnPumpTerminated(Terminated terminated)
    {
        var stream = terminated.ActorRef.Path.Name;
        if (!_undrained.Remove(stream))
            return;
        _log.Error("{Container}/{Exec}: the {Stream} pump failed; the rest of that stream is discarded", _launch.ContainerId, Label, stream);
        _outputs.GetValueOrDefault(stream)?.Abort();
        if (_finished is { } finished && !_reported && _undrained.Count == 0)
            Report(finished);
    }

    private void Finished(GuestFinished finished)
    {
        _finished = finished;
        if (finished.Trap is { } trap)
            _log.Warning("{Container}/{Exec}: guest trapped: {Trap}", _launch.ContainerId, Label, trap);
        foreach (var output in _outputs.Values)
            output.Complete();
        _stdinPump?.Tell(new PumpProtocol.CloseInput(true));
        Draining(finished);
    }

    private void Report(GuestFinished finished)
    {
        Timers.CancelAll();
        _reported = true;
        Context.Parent.Tell(new ProcessExited(ExecId, _pid, (uint)finished.Status, finished.At, finished.Trap));
        Become(Stopped);
    }
}
