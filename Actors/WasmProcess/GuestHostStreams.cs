using System.Buffers;
using System.Text;
using WasmKata.Actors.Io;
using WasmKata.Linux.Io;

namespace WasmKata.Actors.WasmProcess;

/// <summary>
/// The daemon's side of a guest host's pipes, without a thread: reads wait on the shared fd reactor, and a copy holds
/// a buffer only while bytes are on their way, so an idle guest host costs the daemon no thread and no buffer.
/// </summary>
internal static class GuestHostStreams
{
    /// <summary>What one read takes from a guest host's output pipe: a pipe's default capacity.</summary>
    public const int ChunkBytes = 64 * 1024;

    /// <summary>The longest report line; anything longer is junk (the protocol's lines are a few dozen bytes).</summary>
    public const int MaxReportLine = 4096;

    /// <summary>
    /// Copies <paramref name="from"/> into <paramref name="to"/> until end of stream. It reads no more while the buffer
    /// is full (awaiting room, not blocking a thread), so the pipe fills and the guest's write blocks: back-pressure, as
    /// when the guest wrote into the buffer itself. After the buffer was completed the rest is read and dropped.
    /// </summary>
    public static async Task CopyAsync(AsyncFd? from, OutputBuffer? to)
    {
        if (from is null)
            return;
        var target = to;
        try
        {
            var full = false;
            while (true)
            {
                // After a full chunk more is likely waiting; otherwise wait without holding a buffer.
                if (!full)
                    await from.WaitReadableAsync().ConfigureAwait(false);
                var buffer = ArrayPool<byte>.Shared.Rent(ChunkBytes);
                try
                {
                    var n = await from.ReadAsync(buffer.AsMemory(0, ChunkBytes)).ConfigureAwait(false);
                    if (n == 0)
                        return;
                    full = n == ChunkBytes;
                    if (target is not null)
                    {
                        try
                        {
                            await target.WriteAsync(buffer.AsMemory(0, n)).ConfigureAwait(false);
                        }
                        catch (InvalidOperationException)
                        {
                            target = null; // the buffer was completed: the rest is dropped
                        }
                    }
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            // The pipe broke or was closed: nothing more will come.
        }
    }

    /// <summary>Splits a guest host's report pipe into lines, bounded in length.</summary>
    public sealed class LineReader(AsyncFd from)
    {
        private readonly byte[] _buffer = new byte[512];
        private readonly List<byte> _line = [];
        private int _start;
        private int _end;

        /// <summary>
        /// The next line without its newline; null at end of stream (a last line without a newline is still returned).
        /// A line longer than <see cref="MaxReportLine"/> comes back cut to that length, with <c>TooLong</c> set.
        /// </summary>
        public async ValueTask<(string? Line, bool TooLong)> ReadLineAsync()
        {
            _line.Clear();
            while (true)
            {
                if (_start == _end)
                {
                    _start = 0;
                    _end = await from.ReadAsync(_buffer).ConfigureAwait(false);
                    if (_end == 0)
                        return (_line.Count == 0 ? null : Decode(), false);
                }
                var newline = Array.IndexOf(_buffer, (byte)'\n', _start, _end - _start);
                var stop = newline < 0 ? _end : newline;
                _line.AddRange(_buffer.AsSpan(_start, stop - _start));
                _start = newline < 0 ? _end : newline + 1;
                if (_line.Count > MaxReportLine)
                {
                    _line.RemoveRange(MaxReportLine, _line.Count - MaxReportLine);
                    return (Decode(), true);
                }
                if (newline >= 0)
                    return (Decode(), false);
            }
        }

        private string Decode() => Encoding.UTF8.GetString(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_line));
    }
}
