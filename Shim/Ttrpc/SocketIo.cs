using System.Buffers;
using System.Net.Sockets;

namespace WasmKata.Shim.Ttrpc;

/// <summary>Exact-length reads, chunked discards and full writes on a stream socket.</summary>
internal static class SocketIo
{
    private const int DiscardChunk = 64 * 1024;

    /// <summary>
    /// Fills <paramref name="buffer"/>; false when the peer closed before the first byte,
    /// <see cref="EndOfStreamException"/> when it closed part way.
    /// </summary>
    public static async ValueTask<bool> ReceiveExactlyAsync(Socket socket, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        var filled = 0;
        while (filled < buffer.Length)
        {
            var read = await socket.ReceiveAsync(buffer[filled..], SocketFlags.None, cancellationToken).ConfigureAwait(false);
            if (read == 0)
                return filled == 0 ? false : throw new EndOfStreamException($"connection closed after {filled} of {buffer.Length} bytes");

            filled += read;
        }

        return true;
    }

    /// <summary>Reads and drops <paramref name="count"/> bytes through one small pooled buffer, so a huge announced frame costs no memory.</summary>
    public static async ValueTask DiscardAsync(Socket socket, long count, CancellationToken cancellationToken)
    {
        if (count == 0)
            return;

        var chunk = ArrayPool<byte>.Shared.Rent((int)Math.Min(count, DiscardChunk));
        try
        {
            while (count > 0)
            {
                var want = (int)Math.Min(count, chunk.Length);
                var read = await socket.ReceiveAsync(chunk.AsMemory(0, want), SocketFlags.None, cancellationToken).ConfigureAwait(false);
                if (read == 0)
                    throw new EndOfStreamException($"connection closed with {count} bytes of a frame still expected");

                count -= read;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }
    }

    /// <summary>Sends every byte; a stream socket may accept a partial write.</summary>
    public static async ValueTask SendAllAsync(Socket socket, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        while (!data.IsEmpty)
        {
            var sent = await socket.SendAsync(data, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            data = data[sent..];
        }
    }
}
