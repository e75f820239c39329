using Akka.Actor;
using Akka.Event;
using WasmKata.Linux.Io;

namespace WasmKata.Actors.Io;

/// <summary>
/// Moves a guest's output from its buffer to containerd, one chunk in flight at a time, without a thread of its own.
/// When the reader goes away the rest is read and dropped, so the guest is never wedged.
/// </summary>
internal sealed class OutputPumpActor : ReceiveActor
{
    private readonly OutputBuffer _buffer;
    private readonly string _target;
    private readonly string _stream;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly CancellationTokenSource _stop = new();
    private OutputTarget? _out;
    private long _bytes;

    public OutputPumpActor(OutputBuffer buffer, string target, string stream)
    {
        _buffer = buffer;
        _target = target;
        _stream = stream;
        Receive<Chunk>(chunk => Write(chunk.Data));
        Receive<Written>(_ => ReadNext());
        Receive<WriteFailed>(OnWriteFailed);
        Receive<EndOfStream>(_ => Finish());
        Receive<Status.Failure>(f => Fail(f.Cause));
    }

    protected override void PreStart()
    {
        try
        {
            _out = OutputTarget.Open(_target);
        }
        catch (Exception e)
        {
            // Without a reader the output still has to be consumed, or the guest would block on a full buffer.
            _log.Warning("{Stream}: cannot open {Target}: {Error}; output is discarded", _stream, _target, e.Message);
        }
        ReadNext();
    }

    protected override void PostStop()
    {
        _stop.Cancel();
        _out?.Dispose();
        _stop.Dispose();
    }

    private void ReadNext()
    {
        _buffer.ReadAsync(_stop.Token).AsTask().PipeTo(Self,
            success: data => data is { } d ? new Chunk(d) : EndOfStream.Instance,
            failure: e => new Status.Failure(e));
    }

    private void Write(ReadOnlyMemory<byte> data)
    {
        _bytes += data.Length;
        if (_out is null)
        {
            ReadNext();
            return;
        }
        _out.WriteAsync(data, _stop.Token).AsTask().PipeTo(Self,
            success: () => Written.Instance,
            failure: e => new WriteFailed(e));
    }

    private void OnWriteFailed(WriteFailed failed)
    {
        if (failed.Cause is not BrokenPipeException)
            _log.Warning("{Stream}: write to {Target} failed: {Error}; output is discarded", _stream, _target, failed.Cause.Message);
        _out?.Dispose();
        _out = null;
        Context.Parent.Tell(new PumpProtocol.ReaderGone(_stream));
        ReadNext();
    }

    private void Finish()
    {
        _out?.Dispose();
        _out = null;
        Context.Parent.Tell(new PumpProtocol.PumpDrained(_stream, _bytes));
        Context.Stop(Self);
    }

    private void Fail(Exception cause)
    {
        if (cause is OperationCanceledException or ObjectDisposedException)
            return;
        _log.Error(cause, "{Stream}: pump failed", _stream);
        throw new IOException($"{_stream} pump failed", cause);
    }

    private sealed record Chunk(ReadOnlyMemory<byte> Data);

    private sealed record Written
    {
        public static readonly Written Instance = new();
    }

    private sealed record WriteFailed(Exception Cause);

    private sealed record EndOfStream
    {
        public static readonly EndOfStream Instance = new();
    }
}
