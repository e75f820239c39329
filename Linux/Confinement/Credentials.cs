namespace WasmKata.Linux.Confinement;

/// <summary>Becoming an unprivileged host user: no supplementary groups, then gid, then uid (real, effective, saved).</summary>
public static class Credentials
{
    /// <summary>
    /// Switches the whole process (glibc applies set*id to every thread) to <paramref name="uid"/>:<paramref name="gid"/>
    /// for good: with all three uids non-zero the kernel also clears the permitted and effective capabilities.
    /// Refuses root as a target: confinement that keeps uid 0 is not confinement.
    /// </summary>
    public static unsafe void SwitchProcessTo(uint uid, uint gid)
    {
        if (uid == 0 || gid == 0)
            throw new ArgumentException($"a guest host must not run as uid or gid 0 (asked for {uid}:{gid})");
        if (Interop.SetGroups(0, null) != 0)
            UnixErrors.ThrowLast("setgroups(0)");
        if (Interop.SetResGid(gid, gid, gid) != 0)
            UnixErrors.ThrowLast($"setresgid({gid})");
        if (Interop.SetResUid(uid, uid, uid) != 0)
            UnixErrors.ThrowLast($"setresuid({uid})");
        // A setresuid that half-worked (EAGAIN on one thread) must not pass for done.
        if (Interop.GetEffectiveUserId() != uid)
            throw new UnixException(Interop.Errno.EPERM, $"setresuid({uid}) left the effective uid at {Interop.GetEffectiveUserId()}");
    }
}
