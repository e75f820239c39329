using System.Buffers.Binary;

namespace WasmKata.Shim.Ttrpc;

/// <summary>The 10-byte big-endian header in front of every ttrpc frame.</summary>
internal readonly record struct FrameHeader(uint Length, uint StreamId, FrameType Type, byte Flags)
{
    /// <summary>Bytes in an encoded header.</summary>
    public const int Size = 10;

    /// <summary>Largest frame body either side may send (4 MiB, as in ttrpc).</summary>
    public const int MaxMessageSize = 4 << 20;

    /// <summary>True when the body is larger than a peer may send.</summary>
    public bool IsOversize => Length > MaxMessageSize;

    /// <summary>Encodes the header into the first <see cref="Size"/> bytes of <paramref name="destination"/>.</summary>
    public void Write(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt32BigEndian(destination, Length);
        BinaryPrimitives.WriteUInt32BigEndian(destination[4..], StreamId);
        destination[8] = (byte)Type;
        destination[9] = Flags;
    }

    /// <summary>Decodes a header from the first <see cref="Size"/> bytes of <paramref name="source"/>.</summary>
    public static FrameHeader Read(ReadOnlySpan<byte> source) => new(
        BinaryPrimitives.ReadUInt32BigEndian(source),
        BinaryPrimitives.ReadUInt32BigEndian(source[4..]),
        (FrameType)source[8],
        source[9]);

    /// <summary>The wire text ttrpc uses when a frame is too large.</summary>
    public static string OversizeMessage(long length) =>
        $"message length {length} exceed maximum message size of {MaxMessageSize}";
}
