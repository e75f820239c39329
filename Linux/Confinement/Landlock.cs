using System.Runtime.InteropServices;

namespace WasmKata.Linux.Confinement;

/// <summary>File rights Landlock can grant beneath a directory (linux/landlock.h, LANDLOCK_ACCESS_FS_*).</summary>
[Flags]
public enum LandlockFs : ulong
{
    None = 0,
    Execute = 1 << 0,
    WriteFile = 1 << 1,
    ReadFile = 1 << 2,
    ReadDir = 1 << 3,
    RemoveDir = 1 << 4,
    RemoveFile = 1 << 5,
    MakeChar = 1 << 6,
    MakeDir = 1 << 7,
    MakeReg = 1 << 8,
    MakeSock = 1 << 9,
    MakeFifo = 1 << 10,
    MakeBlock = 1 << 11,
    MakeSym = 1 << 12,
    Refer = 1 << 13,       // ABI 2
    Truncate = 1 << 14,    // ABI 3
    IoctlDev = 1 << 15,    // ABI 5

    /// <summary>Reading files and listing directories.</summary>
    Read = ReadFile | ReadDir,

    /// <summary>Everything a guest does in its own rootfs: read, write, create, remove, rename (no devices).</summary>
    ReadWrite = Read | WriteFile | RemoveDir | RemoveFile | MakeDir | MakeReg | MakeSym | MakeFifo | MakeSock | Refer | Truncate,

    /// <summary>The rights that apply to a single file rather than a directory.</summary>
    FileOnly = Execute | WriteFile | ReadFile | Truncate | IoctlDev,
}

/// <summary>One Landlock rule: <see cref="Access"/> beneath the directory (or on the file) behind <see cref="Fd"/>.</summary>
/// <param name="Fd">An open descriptor (O_PATH is enough) of the directory or file.</param>
/// <param name="Access">What is allowed there.</param>
/// <param name="What">Names the rule in errors.</param>
public sealed record LandlockRule(SafeHandle Fd, LandlockFs Access, string What);

/// <summary>
/// Landlock: an unprivileged, stackable restriction of which files (and, from ABI 4, TCP ports; from ABI 6, signals and
/// abstract sockets) the calling thread and its future children may reach.
/// </summary>
public static class Landlock
{
    private const uint CreateRulesetVersion = 1;
    private const int RulePathBeneath = 1;
    private const ulong NetBindTcp = 1 << 0;
    private const ulong NetConnectTcp = 1 << 1;
    private const ulong ScopeAbstractUnixSocket = 1 << 0;
    private const ulong ScopeSignal = 1 << 1;

    /// <summary>The kernel's Landlock ABI version; 0 when Landlock is not built in or not enabled at boot.</summary>
    public static int AbiVersion()
    {
        var version = Interop.Syscall3(Interop.SYS_landlock_create_ruleset, 0, 0, (nint)CreateRulesetVersion);
        if (version >= 0)
            return (int)version;
        var errno = Interop.Errno.Last;
        // ENOSYS: not built; EOPNOTSUPP: built but not in the lsm= list at boot.
        if (errno is 38 or Interop.Errno.EOPNOTSUPP)
            return 0;
        UnixErrors.Throw(errno, "landlock_create_ruleset(LANDLOCK_CREATE_RULESET_VERSION)");
        return 0;
    }

    /// <summary>The file rights a kernel of ABI <paramref name="abi"/> can handle.</summary>
    public static LandlockFs HandledFs(int abi)
    {
        if (abi < 1)
            return LandlockFs.None;
        var rights = (LandlockFs)((1UL << 13) - 1);
        if (abi >= 2)
            rights |= LandlockFs.Refer;
        if (abi >= 3)
            rights |= LandlockFs.Truncate;
        if (abi >= 5)
            rights |= LandlockFs.IoctlDev;
        return rights;
    }

    /// <summary>
    /// Restricts the calling thread (and what it later starts or execs) to <paramref name="rules"/>: every file right
    /// the kernel knows is handled, so anything not granted is denied; with ABI 4 all TCP bind and connect are denied,
    /// with ABI 6 signals and abstract unix sockets are scoped to the domain. Needs no_new_privs (or CAP_SYS_ADMIN).
    /// Other threads are not touched: call this single-threaded or exec afterwards (see <see cref="GuestHostConfinement"/>).
    /// Throws <see cref="PlatformNotSupportedException"/> when the kernel has no Landlock.
    /// </summary>
    public static int RestrictThisThread(IReadOnlyList<LandlockRule> rules) => RestrictThisThread(rules, allowTcpConnect: false);

    /// <summary>As above; with <paramref name="allowTcpConnect"/> TCP connect is not handled (any port), bind still is.</summary>
    public static unsafe int RestrictThisThread(IReadOnlyList<LandlockRule> rules, bool allowTcpConnect)
    {
        ArgumentNullException.ThrowIfNull(rules);
        var abi = AbiVersion();
        if (abi < 1)
            throw new PlatformNotSupportedException("Landlock is not available in this kernel (build it with CONFIG_SECURITY_LANDLOCK and list it in lsm=)");
        var handled = HandledFs(abi);
        var attr = new Interop.LandlockRulesetAttr
        {
            HandledAccessFs = (ulong)handled,
            HandledAccessNet = abi >= 4 ? NetBindTcp | (allowTcpConnect ? 0 : NetConnectTcp) : 0,
            Scoped = abi >= 6 ? ScopeAbstractUnixSocket | ScopeSignal : 0,
        };
        var size = abi >= 6 ? sizeof(Interop.LandlockRulesetAttr) : abi >= 4 ? 16 : 8;
        var ruleset = Interop.Syscall3(Interop.SYS_landlock_create_ruleset, (nint)(&attr), size, 0);
        if (ruleset < 0)
            UnixErrors.ThrowLast("landlock_create_ruleset");
        using var rulesetFd = new SafeFdHandle((int)ruleset, ownsHandle: true);
        foreach (var rule in rules)
            AddRule(rulesetFd, rule, handled);
        if (Interop.Syscall3(Interop.SYS_landlock_restrict_self, rulesetFd.DangerousFd, 0, 0) < 0)
            UnixErrors.ThrowLast("landlock_restrict_self");
        return abi;
    }

    private static unsafe void AddRule(SafeFdHandle ruleset, LandlockRule rule, LandlockFs handled)
    {
        var added = false;
        rule.Fd.DangerousAddRef(ref added);
        try
        {
            var beneath = new Interop.LandlockPathBeneathAttr
            {
                // Rights this kernel does not know would make the call fail; they are not handled, hence not denied.
                AllowedAccess = (ulong)(rule.Access & handled),
                ParentFd = (int)rule.Fd.DangerousGetHandle(),
            };
            if (Interop.Syscall4(Interop.SYS_landlock_add_rule, ruleset.DangerousFd, RulePathBeneath, (nint)(&beneath), 0) < 0)
                UnixErrors.ThrowLast("landlock_add_rule", rule.What);
        }
        finally
        {
            if (added)
                rule.Fd.DangerousRelease();
        }
    }
}
