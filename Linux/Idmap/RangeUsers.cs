using System.Globalization;

namespace WasmKata.Linux.Idmap;

/// <summary>Finds processes that still run with an id of a range, whoever allocated it.</summary>
internal static class RangeUsers
{
    /// <summary>
    /// The pid of some process whose real, effective, saved or filesystem uid or gid lies in <paramref name="range"/>,
    /// or null. A guest host that outlived its daemon keeps the range busy: handing it to another sandbox would let
    /// the two reach each other's files and processes.
    /// </summary>
    internal static int? FindOne(IdRange range)
    {
        foreach (var entry in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(entry.AsSpan(6), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
                continue;

            string status;
            try
            {
                status = File.ReadAllText(entry + "/status");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                continue; // It exited while we looked.
            }

            if (HasIdIn(status, "Uid:", range) || HasIdIn(status, "Gid:", range))
                return pid;
        }

        return null;
    }

    /// <summary>Whether the status line <paramref name="key"/> (four ids) names an id of <paramref name="range"/>.</summary>
    internal static bool HasIdIn(string status, string key, IdRange range)
    {
        var at = status.IndexOf("\n" + key, StringComparison.Ordinal);
        if (at < 0)
            return false;

        var lineStart = at + 1 + key.Length;
        var lineEnd = status.IndexOf('\n', lineStart);
        var line = status.AsSpan(lineStart, (lineEnd < 0 ? status.Length : lineEnd) - lineStart);
        foreach (var part in line.Split('\t'))
        {
            if (uint.TryParse(line[part].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var id) && range.Contains(id))
                return true;
        }

        return false;
    }
}
