using System.Runtime.InteropServices;
using System.Text;

namespace WasmKata.Linux.Processes;

/// <summary>A NULL-terminated array of NUL-terminated UTF-8 strings in native memory (argv, envp).</summary>
internal sealed unsafe class NativeStringArray : IDisposable
{
    private byte** _array;
    private readonly int _count;

    internal NativeStringArray(IReadOnlyCollection<string> values)
    {
        _count = values.Count;
        _array = (byte**)NativeMemory.AllocZeroed((nuint)(_count + 1), (nuint)sizeof(byte*));
        var i = 0;
        foreach (var value in values)
        {
            if (value.Contains('\0', StringComparison.Ordinal))
            {
                Dispose();
                throw new ArgumentException("Arguments and environment entries cannot contain NUL.", nameof(values));
            }

            var length = Encoding.UTF8.GetByteCount(value);
            var item = (byte*)NativeMemory.Alloc((nuint)(length + 1));
            Encoding.UTF8.GetBytes(value, new Span<byte>(item, length));
            item[length] = 0;
            _array[i++] = item;
        }
    }

    internal byte** Pointer => _array;

    public void Dispose()
    {
        if (_array is null)
            return;

        for (var i = 0; i < _count; i++)
            NativeMemory.Free(_array[i]);

        NativeMemory.Free(_array);
        _array = null;
    }
}
