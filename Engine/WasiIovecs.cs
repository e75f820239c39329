using System.Buffers.Binary;
using Wasmtime;

namespace WasmKata.Engine;

/// <summary>The WASI errno values and the iovec list (pairs of u32 pointer and length) our fd_read and fd_write share.</summary>
internal static class WasiIovecs
{
    public const int ErrnoSuccess = 0;
    public const int ErrnoFault = 21;
    public const int ErrnoInval = 28;
    public const int ErrnoIo = 29;

    // Mirrors the cap of most kernels (IOV_MAX); more is EINVAL, as readv and writev say.
    private const uint MaxIovecs = 1024;
    private const int IovecSize = 8;

    /// <summary>
    /// Checks, before a byte moves, that the list of <paramref name="count"/> iovecs at <paramref name="iovsPtr"/>, every
    /// buffer it names and the u32 result at <paramref name="resultPtr"/> lie inside <paramref name="memory"/>.
    /// Returns <see cref="ErrnoSuccess"/> with the list and the buffers' total length, or the errno to answer.
    /// </summary>
    public static int Check(Memory memory, uint iovsPtr, uint count, uint resultPtr, out ReadOnlySpan<byte> iovs, out ulong total)
    {
        iovs = default;
        total = 0;
        if (count > MaxIovecs)
            return ErrnoInval;
        var length = (ulong)memory.GetLength();
        if (iovsPtr + (ulong)count * IovecSize > length || resultPtr + 4UL > length)
            return ErrnoFault;
        iovs = memory.GetSpan(iovsPtr, (int)(count * IovecSize));
        for (var i = 0; i < count; i++)
        {
            var (buf, len) = At(iovs, i);
            if (buf + (ulong)len > length)
                return ErrnoFault;
            total += len;
        }
        return ErrnoSuccess;
    }

    /// <summary>The number of iovecs in a list <see cref="Check"/> returned.</summary>
    public static int Count(ReadOnlySpan<byte> iovs) => iovs.Length / IovecSize;

    /// <summary>Iovec <paramref name="index"/> of a checked list.</summary>
    public static (uint Buf, uint Len) At(ReadOnlySpan<byte> iovs, int index) => (
        BinaryPrimitives.ReadUInt32LittleEndian(iovs[(index * IovecSize)..]),
        BinaryPrimitives.ReadUInt32LittleEndian(iovs[(index * IovecSize + 4)..]));
}
