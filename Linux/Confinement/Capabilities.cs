namespace WasmKata.Linux.Confinement;

/// <summary>Giving up every capability: the bounding set, the ambient set, then effective, permitted and inheritable.</summary>
/// <remarks>All three are per thread: run on the thread whose successors (threads it starts, programs it execs) must hold nothing.</remarks>
public static class Capabilities
{
    /// <summary>The highest capability number this kernel knows (<c>/proc/sys/kernel/cap_last_cap</c>).</summary>
    public static int LastCapability()
    {
        var text = File.ReadAllText("/proc/sys/kernel/cap_last_cap").Trim();
        return int.Parse(text, System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Drops every capability from the calling thread for good: bounding and ambient sets, then the rest.</summary>
    public static void DropAllFromThisThread()
    {
        DropBoundingAndAmbientOfThisThread();
        ClearThisThread();
    }

    /// <summary>
    /// Empties the calling thread's bounding set (needs CAP_SETPCAP) and ambient set: no later exec can gain a
    /// capability back, not even from a file with capabilities. The effective set is kept, so a uid switch can follow.
    /// </summary>
    public static void DropBoundingAndAmbientOfThisThread()
    {
        var last = LastCapability();
        for (var cap = 0; cap <= last; cap++)
        {
            if (Interop.Prctl(Interop.PR_CAPBSET_DROP, (nuint)cap, 0, 0, 0) != 0)
                UnixErrors.ThrowLast($"prctl(PR_CAPBSET_DROP, {cap})");
        }
        if (Interop.Prctl(Interop.PR_CAP_AMBIENT, Interop.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0)
            UnixErrors.ThrowLast("prctl(PR_CAP_AMBIENT_CLEAR_ALL)");
    }

    /// <summary>Clears the calling thread's effective, permitted and inheritable sets (capset; always allowed).</summary>
    public static unsafe void ClearThisThread()
    {
        var header = new Interop.CapHeader { Version = Interop.CapabilityVersion3, Pid = 0 };
        var data = stackalloc Interop.CapData[2];
        data[0] = default;
        data[1] = default;
        if (Interop.Syscall3(Interop.SYS_capset, (nint)(&header), (nint)data, 0) != 0)
            UnixErrors.ThrowLast("capset");
    }

    /// <summary>Whether <paramref name="cap"/> is still in the calling thread's bounding set.</summary>
    public static bool InBoundingSet(int cap)
    {
        var result = Interop.Prctl(Interop.PR_CAPBSET_READ, (nuint)cap, 0, 0, 0);
        if (result < 0)
            UnixErrors.ThrowLast($"prctl(PR_CAPBSET_READ, {cap})");
        return result == 1;
    }
}
