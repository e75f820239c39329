using System.Buffers.Binary;
using System.Text;

namespace WasmKata.Core.Spare;

/// <summary>A hand-over a spare refuses: the reason goes back to the front, and the spare stays as it was.</summary>
internal sealed class HandoverException(string message) : Exception(message);

/// <summary>
/// What <c>start</c> tells a spare along with its listening socket: the sandbox to serve and everything the spare's key
/// was made of, for the spare to check against its own. On the wire: a version byte, then each field as a 2-byte
/// little-endian length and UTF-8 text, in declaration order.
/// </summary>
internal sealed record HandoverMessage(
    string Key, string Id, string Bundle, string Namespace, string Address, string TtrpcAddress, string PublishBinary, bool Debug, string ConfigPath)
{
    /// <summary>The longest payload a spare reads.</summary>
    public const int MaxBytes = 64 * 1024;

    /// <summary>The spare's first answer: the message is good and the spare is this sandbox's from now on.</summary>
    public const byte Taken = (byte)'T';

    /// <summary>The spare's last answer: it serves the socket.</summary>
    public const byte Adopted = (byte)'A';

    /// <summary>The spare's answer when it does not; a UTF-8 reason follows until the connection closes.</summary>
    public const byte Refused = (byte)'R';

    private const byte Version = 1;
    private const int FieldCount = 9;

    /// <summary>The payload.</summary>
    public byte[] Encode()
    {
        string[] fields = [Key, Id, Bundle, Namespace, Address, TtrpcAddress, PublishBinary, Debug ? "1" : "0", ConfigPath];
        var output = new MemoryStream();
        output.WriteByte(Version);
        Span<byte> length = stackalloc byte[2];
        foreach (var field in fields)
        {
            var bytes = Encoding.UTF8.GetBytes(field);
            if (bytes.Length > ushort.MaxValue)
                throw new ArgumentException($"hand-over field of {bytes.Length} bytes is too long");
            BinaryPrimitives.WriteUInt16LittleEndian(length, (ushort)bytes.Length);
            output.Write(length);
            output.Write(bytes);
        }

        return output.ToArray();
    }

    /// <summary>Reads a payload; <see cref="HandoverException"/> says what is wrong with a bad one.</summary>
    public static HandoverMessage Parse(ReadOnlySpan<byte> payload)
    {
        if (payload.Length == 0 || payload[0] != Version)
            throw new HandoverException(payload.Length == 0 ? "empty hand-over message" : $"hand-over message version {payload[0]}, expected {Version}");
        var fields = new string[FieldCount];
        var rest = payload[1..];
        for (var i = 0; i < FieldCount; i++)
        {
            if (rest.Length < 2)
                throw new HandoverException($"hand-over message ends after {i} of {FieldCount} fields");
            var length = BinaryPrimitives.ReadUInt16LittleEndian(rest);
            if (rest.Length - 2 < length)
                throw new HandoverException($"hand-over field {i + 1} claims {length} bytes, {rest.Length - 2} are left");
            try
            {
                fields[i] = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(rest.Slice(2, length));
            }
            catch (DecoderFallbackException)
            {
                throw new HandoverException($"hand-over field {i + 1} is not UTF-8");
            }

            rest = rest[(2 + length)..];
        }

        if (rest.Length > 0)
            throw new HandoverException($"hand-over message has {rest.Length} bytes after its last field");
        if (fields[7] is not ("0" or "1"))
            throw new HandoverException($"hand-over debug flag \"{fields[7]}\" is neither 0 nor 1");
        return new HandoverMessage(fields[0], fields[1], fields[2], fields[3], fields[4], fields[5], fields[6], fields[7] == "1", fields[8]);
    }

    /// <summary>
    /// Checks the message against what the spare was started for (<paramref name="expected"/>, whose Id and Bundle are
    /// not looked at) and that it names a sandbox; <see cref="HandoverException"/> otherwise.
    /// </summary>
    public void Validate(HandoverMessage expected)
    {
        ArgumentNullException.ThrowIfNull(expected);
        Same("key", Key, expected.Key);
        Same("namespace", Namespace, expected.Namespace);
        Same("containerd address", Address, expected.Address);
        Same("events address", TtrpcAddress, expected.TtrpcAddress);
        Same("publish binary", PublishBinary, expected.PublishBinary);
        Same("debug flag", Debug ? "1" : "0", expected.Debug ? "1" : "0");
        Same("configuration path", ConfigPath, expected.ConfigPath);
        if (Id.Length == 0)
            throw new HandoverException("hand-over names no sandbox id");
        if (!Path.IsPathRooted(Bundle) || !Directory.Exists(Bundle))
            throw new HandoverException($"hand-over bundle \"{Bundle}\" is not an existing absolute directory");
    }

    private static void Same(string what, string got, string expected)
    {
        if (!string.Equals(got, expected, StringComparison.Ordinal))
            throw new HandoverException($"hand-over for another {what} (\"{got}\"; this spare serves \"{expected}\")");
    }
}
