using Microsoft.Win32.SafeHandles;
using WasmKata.Engine;

namespace WasmKata.Shim.GuestHost;

/// <summary>A guest's output stream written straight to an inherited descriptor (a pipe or FIFO the parent holds).</summary>
internal sealed class FdOutput(int fd) : IGuestOutput, IDisposable
{
    private readonly FileStream _stream = new(new SafeFileHandle(fd, ownsHandle: false), FileAccess.Write, bufferSize: 0);

    public void Write(ReadOnlySpan<byte> data) => _stream.Write(data);

    public void Dispose() => _stream.Dispose();
}
