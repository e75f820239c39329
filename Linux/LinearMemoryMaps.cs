using System.Globalization;

namespace WasmKata.Linux;

/// <summary>
/// Finds WebAssembly linear memories in this process's address space (/proc/self/maps), for guests whose memories
/// the engine does not hand out (a component's are internal to it). Wasmtime's on-demand allocator reserves each
/// memory as one large inaccessible region (gigabytes) and makes its first bytes accessible as the memory grows, so a
/// memory shows as readable-writable mappings directly below an inaccessible reservation: that reservation's end
/// address names the memory for as long as it lives, and the mappings below it give its size.
/// </summary>
public static class LinearMemoryMaps
{
    /// <summary>Inaccessible regions at least this large are taken for memory reservations.</summary>
    public const long MinReservationBytes = 1L << 30;

    /// <summary>The end addresses of the memory reservations in the address space now.</summary>
    public static HashSet<ulong> ReservationEnds()
    {
        var ends = new HashSet<ulong>();
        foreach (var vma in Read())
        {
            if (vma.Inaccessible && vma.End - vma.Start >= MinReservationBytes)
                ends.Add(vma.End);
        }
        return ends;
    }

    /// <summary>
    /// The accessible bytes of the memories whose reservations end at <paramref name="ends"/>: the readable-writable
    /// mappings directly below each. A reservation that is gone counts 0.
    /// </summary>
    public static long AccessibleBytes(IReadOnlyCollection<ulong> ends)
    {
        ArgumentNullException.ThrowIfNull(ends);
        if (ends.Count == 0)
            return 0;
        var maps = Read();
        long total = 0;
        for (var i = 0; i < maps.Count; i++)
        {
            if (!maps[i].Inaccessible || !ends.Contains(maps[i].End))
                continue;
            var below = maps[i].Start;
            for (var j = i - 1; j >= 0 && maps[j].End == below && maps[j].ReadWrite; j--)
            {
                total += (long)(maps[j].End - maps[j].Start);
                below = maps[j].Start;
            }
        }
        return total;
    }

    private static List<Vma> Read()
    {
        var maps = new List<Vma>();
        foreach (var line in File.ReadLines("/proc/self/maps"))
        {
            // "7f97a6001000-7f97a6030000 rw-p 00000000 00:00 0   [path]"
            var dash = line.IndexOf('-', StringComparison.Ordinal);
            var space = line.IndexOf(' ', StringComparison.Ordinal);
            if (dash <= 0 || space <= dash || line.Length < space + 5)
                continue;
            if (!ulong.TryParse(line.AsSpan(0, dash), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var start)
                || !ulong.TryParse(line.AsSpan(dash + 1, space - dash - 1), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var end))
            {
                continue;
            }

            var perms = line.AsSpan(space + 1, 3);
            maps.Add(new Vma(start, end, perms.SequenceEqual("---"), perms.StartsWith("rw")));
        }
        return maps;
    }

    private readonly record struct Vma(ulong Start, ulong End, bool Inaccessible, bool ReadWrite);
}
