using System.Security.Cryptography;

namespace WasmKata.Specs.EndToEnd;

/// <summary>What the bigout guest writes: byte i % 251 at offset i.</summary>
internal static class Bigout
{
    /// <summary>The SHA-256 of the first <paramref name="mebibytes"/> MiB of bigout's output.</summary>
    public static byte[] Sha256(int mebibytes)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var chunk = new byte[251 * 4096];
        for (var i = 0; i < chunk.Length; i++)
            chunk[i] = (byte)(i % 251);
        for (long left = (long)mebibytes << 20; left > 0; left -= chunk.Length)
            hash.AppendData(chunk, 0, (int)Math.Min(left, chunk.Length));
        return hash.GetHashAndReset();
    }
}
