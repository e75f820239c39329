namespace WasmKata.Linux.Confinement;

/// <summary>PR_SET_NO_NEW_PRIVS: no exec of the thread or its successors can gain privilege (setuid bits, file caps).</summary>
public static class NoNewPrivs
{
    /// <summary>Sets it on the calling thread; it cannot be cleared again.</summary>
    public static void SetOnThisThread()
    {
        if (Interop.Prctl(Interop.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
            UnixErrors.ThrowLast("prctl(PR_SET_NO_NEW_PRIVS)");
    }

    /// <summary>Whether the calling thread has it.</summary>
    public static bool IsSetOnThisThread()
    {
        var result = Interop.Prctl(Interop.PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
        if (result < 0)
            UnixErrors.ThrowLast("prctl(PR_GET_NO_NEW_PRIVS)");
        return result == 1;
    }
}
