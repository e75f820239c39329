namespace WasmKata.Linux.Idmap;

/// <summary>Runs a call on the calling thread with another filesystem uid and gid, keeping every capability.</summary>
internal static class ThreadFsIdentity
{
    /// <summary>
    /// Runs <paramref name="call"/> with fsuid and fsgid <paramref name="id"/>, then restores both. setfsuid(2) is per
    /// thread and glibc does not broadcast it, so no other thread of the process sees the change; the kernel drops
    /// the file capabilities from the effective set on a switch away from fsuid 0, and they are raised again from the
    /// permitted set for the call (and by the kernel on the switch back).
    /// </summary>
    internal static T Run<T>(uint id, Func<T> call)
    {
        var oldGid = (uint)Interop.SetFsGid(id);
        var oldUid = (uint)Interop.SetFsUid(id);
        try
        {
            // setfsuid reports no error: asking with an invalid id returns the current one.
            if ((uint)Interop.SetFsUid(uint.MaxValue) != id || (uint)Interop.SetFsGid(uint.MaxValue) != id)
                throw new UnixException(Interop.Errno.EPERM, $"setfsuid/setfsgid({id})");

            RaisePermittedCapabilities();
            return call();
        }
        finally
        {
            Interop.SetFsUid(oldUid);
            Interop.SetFsGid(oldGid);
        }
    }

    private static unsafe void RaisePermittedCapabilities()
    {
        var header = new Interop.CapHeader { Version = Interop.CapabilityVersion3, Pid = 0 };
        var data = stackalloc Interop.CapData[2];
        if (Interop.CapGet(&header, data) != 0)
            UnixErrors.ThrowLast("capget");

        data[0].Effective = data[0].Permitted;
        data[1].Effective = data[1].Permitted;
        if (Interop.Syscall3(Interop.SYS_capset, (nint)(&header), (nint)data, 0) != 0)
            UnixErrors.ThrowLast("capset");
    }
}
