using System.Net.Sockets;

namespace WasmKata.Shim.Ttrpc;

/// <summary>Puts whole frames on one socket, one at a time, so concurrent replies never interleave.</summary>
internal sealed class FrameWriter(Socket socket)
{
    private readonly SemaphoreSlim _gate = new(1, 1);

    /// <summary>Sends the frame and disposes it, whether or not the send succeeded.</summary>
    public async Task WriteAsync(RentedFrame frame, CancellationToken cancellationToken)
    {
        using (frame)
        {
            await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                await SocketIo.SendAllAsync(socket, frame.Bytes, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                _gate.Release();
            }
        }
    }
}
