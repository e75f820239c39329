using System.Buffers;

namespace WasmKata.Shim.Ttrpc;

/// <summary>An encoded frame (header and body) in a pooled array; dispose once it has been sent.</summary>
internal readonly struct RentedFrame(byte[] buffer, int length) : IDisposable
{
    /// <summary>The bytes to put on the wire.</summary>
    public ReadOnlyMemory<byte> Bytes => buffer.AsMemory(0, length);

    /// <summary>Returns the array to the pool.</summary>
    public void Dispose() => ArrayPool<byte>.Shared.Return(buffer);
}
