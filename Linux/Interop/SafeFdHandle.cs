using System.Runtime.InteropServices;

namespace WasmKata.Linux;

/// <summary>An owned file descriptor; closed when the last reference (including in-flight syscalls) is released.</summary>
internal sealed class SafeFdHandle : SafeHandle
{
    /// <summary>Used by the interop marshaller for return values.</summary>
    public SafeFdHandle()
        : base(invalidHandleValue: -1, ownsHandle: true)
    {
    }

    internal SafeFdHandle(int fd, bool ownsHandle)
        : base(invalidHandleValue: -1, ownsHandle)
    {
        SetHandle(fd);
    }

    public override bool IsInvalid => handle < 0;

    /// <summary>The descriptor number; only meaningful while the handle is open.</summary>
    internal int DangerousFd => (int)handle;

    // close(2) releases the descriptor even when it reports EINTR, so a retry could close a reused number.
    protected override bool ReleaseHandle()
    {
        Interop.Close((int)handle);
        return true;
    }
}
