using Akka.Actor;
using Akka.Event;
using WasmKata.Linux;

namespace WasmKata.Actors.Io;

/// <summary>
/// Moves a guest's output from its buffer to containerd, one chunk in flight at a time, without a thread of its own:
/// one async loop per stream, whose end (or a write failure) comes back as a message. It reports
/// <see cref="PumpProtocol.PumpDrained"/> only once the reader has taken every byte out of the FIFO.
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
        Receive<WriteFailed>(OnWriteFailed);
        Receive<EndOfStream>(end =>
        {
            if (end.Unread > 0)
                _log.Info("{Stream}: the reader of {Target} left with {Unread} bytes unread", _stream, _target, end.Unread);
            Finish(end.Bytes);
        });
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
        Pump();
    }

    protected override void PostStop()
    {
        _stop.Cancel();
        _out?.Dispose();
        _stop.Dispose();
    }

    // One task moves chunk after chunk (no message per chunk) and reports only how it ended.
    private void Pump() => PumpAsync(_out, _bytes, _stop.Token).PipeTo(Self, failure: e => new Status.Failure(e));

    private async Task<object> PumpAsync(OutputTarget? target, long bytes, CancellationToken cancellationToken)
    {
        while (await _buffer.ReadAsync(cancellationToken).ConfigureAwait(false) is { } chunk)
        {
            bytes += chunk.Length;
            if (target is null)
                continue;
            try
            {
                await target.WriteAsync(chunk, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException and not ObjectDisposedException)
            {
                return new WriteFailed(e, bytes);
            }
        }
        // Drained means read, not written: the exit goes out once this completes.
        var unread = target is null ? 0 : await target.WaitUntilReadAsync(cancellationToken).ConfigureAwait(false);
        return new EndOfStream(bytes, unread);
    }

    private void OnWriteFailed(WriteFailed failed)
    {
        _bytes = failed.Bytes;
        if (failed.Cause is not BrokenPipeException)
            _log.Warning("{Stream}: write to {Target} failed: {Error}; output is discarded", _stream, _target, failed.Cause.Message);
        _out?.Dispose();
        _out = null;
        Context.Parent.Tell(new PumpProtocol.ReaderGone(_stream));
        Pump();
    }

    private void Finish(long bytes)
    {
        _bytes = bytes;
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

    private sealed record WriteFailed(Exception Cause, long Bytes);

    private sealed record EndOfStream(long Bytes, int Unread);
}
