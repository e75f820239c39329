using Akka.Actor;
using Akka.Event;
using WasmKata.Linux;
using WasmKata.Linux.Io;

namespace WasmKata.Actors.Io;

/// <summary>
/// Moves bytes from containerd's stdin FIFO into the guest's stdin pipe; closing the pipe is how the guest sees EOF.
/// One read or one write is in flight at a time, so the buffer is reused and no thread is held.
/// </summary>
internal sealed class StdinPumpActor : ReceiveActor, IWithTimers
{
    private readonly string _fifoPath;
    private readonly GuestInputPipe _pipe;
    private readonly TimeSpan _closeGrace;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly CancellationTokenSource _stop = new();
    private readonly byte[] _chunk = new byte[64 * 1024];
    private AsyncFd? _fifo;

    public StdinPumpActor(string fifoPath, GuestInputPipe pipe, TimeSpan closeGrace)
    {
        _fifoPath = fifoPath;
        _pipe = pipe;
        _closeGrace = closeGrace;
        Receive<ReadDone>(r => OnRead(r.Count));
        Receive<Wrote>(_ => ReadNext());
        Receive<PumpProtocol.CloseInput>(c =>
        {
            // CloseIO follows the client closing its end: give input already in the FIFO a moment to pass.
            if (c.Now)
                Close();
            else
                Timers.StartSingleTimer("close", new PumpProtocol.CloseInput(true), _closeGrace);
        });
        Receive<Status.Failure>(f =>
        {
            if (f.Cause is not (OperationCanceledException or ObjectDisposedException or BrokenPipeException))
                _log.Warning("stdin: {Error}", f.Cause.Message);
            Close();
        });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    protected override void PreStart()
    {
        try
        {
            _fifo = Fifo.OpenReader(_fifoPath);
        }
        catch (Exception e)
        {
            _log.Warning("stdin: cannot open {Path}: {Error}", _fifoPath, e.Message);
            Close();
            return;
        }
        ReadNext();
    }

    protected override void PostStop()
    {
        _stop.Cancel();
        _fifo?.Dispose();
        _pipe.Writer.Dispose();
        _stop.Dispose();
    }

    private void ReadNext() =>
        _fifo!.ReadAsync(_chunk, _stop.Token).AsTask().PipeTo(Self, success: n => new ReadDone(n), failure: e => new Status.Failure(e));

    private void OnRead(int count)
    {
        if (count == 0)
        {
            Close();
            return;
        }
        _pipe.Writer.WriteAsync(_chunk.AsMemory(0, count), _stop.Token).AsTask()
            .PipeTo(Self, success: () => Wrote.Instance, failure: e => new Status.Failure(e));
    }

    private void Close() => Context.Stop(Self);

    private sealed record ReadDone(int Count);

    private sealed record Wrote
    {
        public static readonly Wrote Instance = new();
    }
}
