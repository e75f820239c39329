namespace WasmKata.Linux.Confinement;

/// <summary>A private mount namespace: mounts the host makes later (other pods' rootfs) never appear in it.</summary>
public static class MountNamespace
{
    /// <summary>
    /// Moves the calling thread into a new mount namespace whose mounts all have private propagation. Allowed in a
    /// multi-threaded process (it implies only CLONE_FS); the namespace becomes the process's at the next exec.
    /// Needs CAP_SYS_ADMIN.
    /// </summary>
    public static void EnterPrivateOnThisThread()
    {
        if (Interop.Unshare(Interop.CLONE_NEWNS) != 0)
            UnixErrors.ThrowLast("unshare(CLONE_NEWNS)");
        if (Interop.Mount(null, "/", null, Interop.MS_REC | Interop.MS_PRIVATE, null) != 0)
            UnixErrors.ThrowLast("mount(MS_REC|MS_PRIVATE)", "/");
    }

    /// <summary>The mount namespace of <paramref name="pid"/> ("mnt:[4026531841]"), for comparing two processes.</summary>
    public static string Of(int pid) => new FileInfo($"/proc/{pid}/ns/mnt").LinkTarget ?? "";
}
