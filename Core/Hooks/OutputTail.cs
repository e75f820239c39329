using System.Text;

namespace WasmKata.Core.Hooks;

/// <summary>Keeps only the last <c>capacity</c> bytes written to it, for error messages about chatty programs.</summary>
internal sealed class OutputTail(int capacity)
{
    private readonly byte[] _ring = new byte[capacity];
    private long _written;

    /// <summary>How many bytes were appended in total, including those already dropped.</summary>
    internal long Written => _written;

    internal void Append(ReadOnlySpan<byte> data)
    {
        if (data.Length > _ring.Length)
        {
            // Only the newest capacity bytes can survive; count the rest as written and dropped.
            _written += data.Length - _ring.Length;
            data = data[^_ring.Length..];
        }

        var position = (int)(_written % _ring.Length);
        var first = Math.Min(data.Length, _ring.Length - position);
        data[..first].CopyTo(_ring.AsSpan(position));
        data[first..].CopyTo(_ring);
        _written += data.Length;
    }

    /// <summary>The kept bytes, oldest first.</summary>
    internal byte[] ToArray()
    {
        if (_written <= _ring.Length)
            return _ring[..(int)_written];

        var position = (int)(_written % _ring.Length);
        return [.. _ring[position..], .. _ring[..position]];
    }

    /// <summary>The kept bytes as trimmed UTF-8 text, "…" in front when older output was dropped.</summary>
    public override string ToString()
    {
        var text = Encoding.UTF8.GetString(ToArray()).Trim();
        return _written > _ring.Length ? "…" + text : text;
    }
}
