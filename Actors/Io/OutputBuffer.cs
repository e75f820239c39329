using WasmKata.Engine;

namespace WasmKata.Actors.Io;

/// <summary>A bounded byte buffer between a guest's output stream and its async reader (the output pump).</summary>
/// <remarks>
/// <see cref="Write"/> blocks the guest while <see cref="Capacity"/> bytes are unread; <see cref="ReadAsync"/> hands
/// out the bytes in order, small writes coalesced into chunks of up to 64 KiB. One writer and one reader at a time;
/// no thread of its own, no polling.
/// </remarks>
public sealed class OutputBuffer : IGuestOutput
{
    /// <summary>The default number of unread bytes before writers block: 1 MiB.</summary>
    public const int DefaultCapacity = 1 << 20;

    private const int ChunkSize = 64 * 1024;

    // A plain object, not Lock: blocked writers wait on its monitor.
    private readonly object _gate = new();
    private readonly Queue<ReadOnlyMemory<byte>> _chunks = new();
    private byte[]? _tail;
    private int _tailStart;
    private int _tailEnd;
    private long _unread;
    private int _blockedWriters;
    private bool _completed;
    private bool _aborted;
    private TaskCompletionSource? _readerWake;
    private TaskCompletionSource? _writerWake;

    /// <summary>Creates a buffer that blocks writers once <paramref name="capacity"/> bytes are unread.</summary>
    public OutputBuffer(int capacity = DefaultCapacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        Capacity = capacity;
    }

    /// <summary>How many unread bytes make writers wait.</summary>
    public int Capacity { get; }

    /// <summary>Bytes written and not yet handed to the reader.</summary>
    public long BufferedBytes => Interlocked.Read(ref _unread);

    /// <summary>
    /// Copies <paramref name="data"/> in, blocking while the buffer is full; returns at once, dropping the data,
    /// once <see cref="Abort"/> was called. Throws <see cref="InvalidOperationException"/> after <see cref="Complete"/>.
    /// </summary>
    public void Write(ReadOnlySpan<byte> data)
    {
        lock (_gate)
        {
            if (_completed && !_aborted)
                throw new InvalidOperationException("write after Complete");
            while (!data.IsEmpty)
            {
                while (!_aborted && _unread >= Capacity)
                {
                    _blockedWriters++;
                    Monitor.Wait(_gate);
                    _blockedWriters--;
                }
                if (_aborted)
                    return;
                var n = (int)Math.Min(data.Length, Capacity - _unread);
                Append(data[..n]);
                data = data[n..];
                Interlocked.Add(ref _unread, n);
                // Woken inside the lock, before this writer may block for room: its continuation runs elsewhere.
                WakeReader();
            }
        }
    }

    /// <summary>
    /// <see cref="Write"/> for a writer that must not block a thread (the daemon's copy of a guest host's pipe): the
    /// returned task completes once every byte is in, so a writer that awaits it before reading more holds its source
    /// back (back-pressure) without a thread. Drops the data once <see cref="Abort"/> was called; throws
    /// <see cref="InvalidOperationException"/> after <see cref="Complete"/>.
    /// </summary>
    public ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            if (_completed && !_aborted)
                throw new InvalidOperationException("write after Complete");
            data = AppendWhileRoom(data);
            if (data.IsEmpty)
                return ValueTask.CompletedTask;
        }
        return WriteSlowAsync(data, cancellationToken);
    }

    /// <summary>
    /// The next bytes in order, or null once the stream ended (<see cref="Complete"/> or <see cref="Abort"/>) and
    /// everything buffered was read. Cancelling loses nothing.
    /// </summary>
    public ValueTask<ReadOnlyMemory<byte>?> ReadAsync(CancellationToken cancellationToken = default)
    {
        if (cancellationToken.IsCancellationRequested)
            return ValueTask.FromCanceled<ReadOnlyMemory<byte>?>(cancellationToken);
        Task wake;
        lock (_gate)
        {
            if (TryTake(out var chunk))
                return new(chunk);
            if (_completed || _aborted)
                return new((ReadOnlyMemory<byte>?)null);
            wake = (_readerWake ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
        }
        return ReadSlowAsync(wake, cancellationToken);
    }

    /// <summary>The writer is done (the guest ended): the reader gets null after the rest.</summary>
    public void Complete()
    {
        lock (_gate)
        {
            _completed = true;
            WakeReader();
        }
    }

    /// <summary>
    /// The guest is being killed: blocked and later writes return at once and are dropped; what is already buffered
    /// stays readable, then the reader gets null.
    /// </summary>
    public void Abort()
    {
        lock (_gate)
        {
            _aborted = true;
            if (_blockedWriters > 0)
                Monitor.PulseAll(_gate);
            WakeWriter();
            WakeReader();
        }
    }

    private async ValueTask<ReadOnlyMemory<byte>?> ReadSlowAsync(Task wake, CancellationToken cancellationToken)
    {
        while (true)
        {
            await wake.WaitAsync(cancellationToken).ConfigureAwait(false);
            lock (_gate)
            {
                if (TryTake(out var chunk))
                    return chunk;
                if (_completed || _aborted)
                    return null;
                wake = (_readerWake ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
            }
        }
    }

    private async ValueTask WriteSlowAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        while (true)
        {
            Task room;
            lock (_gate)
            {
                data = AppendWhileRoom(data);
                if (data.IsEmpty)
                    return;
                room = (_writerWake ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
            }
            await room.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    // Takes what fits below Capacity; the rest comes back (empty once all is in, or dropped after Abort).
    private ReadOnlyMemory<byte> AppendWhileRoom(ReadOnlyMemory<byte> data)
    {
        if (_aborted)
            return ReadOnlyMemory<byte>.Empty;
        var n = (int)Math.Min(data.Length, Math.Max(0, Capacity - _unread));
        if (n == 0)
            return data;
        Append(data.Span[..n]);
        Interlocked.Add(ref _unread, n);
        WakeReader();
        return data[n..];
    }

    private void Append(ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            if (_tail is null)
            {
                _tail = new byte[ChunkSize];
                _tailStart = _tailEnd = 0;
            }
            var n = Math.Min(data.Length, _tail.Length - _tailEnd);
            data[..n].CopyTo(_tail.AsSpan(_tailEnd));
            _tailEnd += n;
            data = data[n..];
            if (_tailEnd == _tail.Length)
            {
                _chunks.Enqueue(new ReadOnlyMemory<byte>(_tail, _tailStart, _tailEnd - _tailStart));
                _tail = null;
            }
        }
    }

    // Handed-out bytes are never written again: the tail keeps filling after the part the reader took.
    private bool TryTake(out ReadOnlyMemory<byte> chunk)
    {
        if (!_chunks.TryDequeue(out chunk))
        {
            if (_tail is null || _tailEnd == _tailStart)
                return false;
            chunk = new ReadOnlyMemory<byte>(_tail, _tailStart, _tailEnd - _tailStart);
            _tailStart = _tailEnd;
        }
        Interlocked.Add(ref _unread, -chunk.Length);
        if (_blockedWriters > 0)
            Monitor.PulseAll(_gate);
        WakeWriter();
        return true;
    }

    private void WakeWriter()
    {
        var wake = _writerWake;
        _writerWake = null;
        wake?.TrySetResult();
    }

    private void WakeReader()
    {
        var wake = _readerWake;
        _readerWake = null;
        wake?.TrySetResult();
    }
}
