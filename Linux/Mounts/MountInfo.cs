using System.Text;

namespace WasmKata.Linux.Mounts;

/// <summary>Reads mount points from /proc/self/mountinfo.</summary>
internal static class MountInfo
{
    private const string MountInfoPath = "/proc/self/mountinfo";

    /// <summary>The decoded mount points of the current mount namespace, in table order.</summary>
    internal static IReadOnlyList<string> ReadMountPoints() => ParseMountPoints(File.ReadAllText(MountInfoPath));

    /// <summary>Field 5 of every line ("36 35 98:0 /mnt1 /mnt2 rw ..."), octal escapes decoded.</summary>
    internal static IReadOnlyList<string> ParseMountPoints(string mountInfo)
    {
        var result = new List<string>();
        foreach (var line in mountInfo.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var fields = line.Split(' ');
            if (fields.Length > 4)
                result.Add(Unescape(fields[4]));
        }

        return result;
    }

    /// <summary>The kernel writes space, tab, newline and backslash as \ooo; the octal value is a byte.</summary>
    internal static string Unescape(string field)
    {
        if (!field.Contains('\\', StringComparison.Ordinal))
            return field;

        var bytes = new List<byte>(field.Length);
        Span<byte> utf8 = stackalloc byte[4];
        for (var i = 0; i < field.Length; i++)
        {
            if (field[i] == '\\' && i + 3 < field.Length && IsOctal(field[i + 1]) && IsOctal(field[i + 2]) && IsOctal(field[i + 3]))
            {
                bytes.Add((byte)(((field[i + 1] - '0') << 6) | ((field[i + 2] - '0') << 3) | (field[i + 3] - '0')));
                i += 3;
                continue;
            }

            var rune = Rune.GetRuneAt(field, i);
            var length = rune.EncodeToUtf8(utf8);
            for (var b = 0; b < length; b++)
                bytes.Add(utf8[b]);

            i += rune.Utf16SequenceLength - 1;
        }

        return Encoding.UTF8.GetString(bytes.ToArray());
    }

    private static bool IsOctal(char c) => c is >= '0' and <= '7';
}
