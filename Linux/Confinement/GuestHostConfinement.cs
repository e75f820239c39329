using System.Runtime.InteropServices;
using WasmKata.Linux.Processes;

namespace WasmKata.Linux.Confinement;

/// <summary>Who a guest host becomes and which files it may reach.</summary>
/// <param name="Uid">The host uid it runs as (never 0).</param>
/// <param name="Gid">The host gid it runs as (never 0).</param>
/// <param name="Rules">The Landlock rules: the rootfs and mounts it serves, plus what the program needs to start.</param>
/// <param name="TcpConnect">Whether TCP connect is left open (a container that asked for outgoing HTTP).</param>
public sealed record ConfinementPlan(uint Uid, uint Gid, IReadOnlyList<LandlockRule> Rules, bool TcpConnect = false);

/// <summary>
/// How a guest host confines itself, in two stages around one exec, because a .NET process is multi-threaded from
/// its first instruction (the runtime starts a finalizer thread before Main) while Landlock, capabilities, no_new_privs
/// and a new mount namespace apply to the calling thread only:
/// stage 1 confines the main thread (mount namespace, bounding and ambient sets, uid and gid, capabilities,
/// no_new_privs, Landlock) and execs the same program, which leaves exactly that thread's state, now the process's;
/// stage 2, in the fresh image, checks what it inherited and installs the seccomp filter on every thread at once.
/// </summary>
public static class GuestHostConfinement
{
    /// <summary>Read-only paths every program of ours needs to start after the exec (dynamic loader and libraries).</summary>
    public static IReadOnlyList<string> SystemReadOnlyPaths { get; } = ["/usr", "/lib", "/lib64", "/etc/ld.so.cache"];

    /// <summary>
    /// The files glibc's resolver reads to turn a host name into addresses (getaddrinfo, which Wasmtime's wasi:http
    /// calls): servers, static names, which sources to ask, and address order. Read-only, those that exist, and only
    /// for a guest host with outgoing HTTP. The host's, as for a guest thread of the daemon.
    /// </summary>
    public static IReadOnlyList<string> ResolverFiles { get; } = ["/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/host.conf", "/etc/gai.conf"];

    /// <summary>
    /// An O_PATH descriptor of <paramref name="path"/> as a Landlock rule (rights meant for directories are left off for a
    /// file). Missing paths throw <see cref="FileNotFoundException"/>.
    /// </summary>
    public static LandlockRule Beneath(string path, LandlockFs access)
    {
        var fd = Interop.Open(path, Interop.O_PATH | Interop.O_CLOEXEC, 0);
        if (fd.IsInvalid)
            UnixErrors.ThrowLast("open(O_PATH)", path);
        if (!Directory.Exists(path))
            access &= LandlockFs.FileOnly;
        return new LandlockRule(fd, access, path);
    }

    /// <summary>The rules for <see cref="SystemReadOnlyPaths"/> (those that exist) and the program's own directory.</summary>
    public static IReadOnlyList<LandlockRule> ProgramRules(string programPath)
    {
        ArgumentException.ThrowIfNullOrEmpty(programPath);
        var rules = new List<LandlockRule>();
        foreach (var path in SystemReadOnlyPaths.Where(p => Path.Exists(p)))
            rules.Add(Beneath(path, LandlockFs.Read | LandlockFs.Execute));
        rules.Add(Beneath(Path.GetDirectoryName(programPath)!, LandlockFs.Read | LandlockFs.Execute));
        // Wasmtime's stdio for a guest without stdin reads /dev/null.
        rules.Add(Beneath("/dev/null", LandlockFs.ReadFile | LandlockFs.WriteFile));
        // Its own /proc/PID (the pid survives the exec): the runtime reads its status, maps and limits there, and the
        // engine reopens handed-over descriptors through /proc/self/fd (Landlock then checks the file they lead to).
        // Through /proc/self, not /proc/{our pid}: a shim started in another pid namespace (nsenter -p) than the one
        // /proc shows has a pid that names some other process there.
        rules.Add(Beneath("/proc/self", LandlockFs.Read));
        return rules;
    }

    /// <summary>
    /// Stage 1, on the thread that will exec: everything but seccomp. Needs root (CAP_SYS_ADMIN, CAP_SETUID, CAP_SETGID,
    /// CAP_SETPCAP). Throws <see cref="PlatformNotSupportedException"/> when the kernel lacks Landlock; no step is skipped.
    /// </summary>
    public static void ConfineThisThread(ConfinementPlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        if (Landlock.AbiVersion() < 1)
            throw new PlatformNotSupportedException("Landlock is not available in this kernel: a guest host cannot be confined here");
        MountNamespace.EnterPrivateOnThisThread();
        // The bounding set needs CAP_SETPCAP, and setresuid CAP_SETUID: both before the uid switch takes them away.
        Capabilities.DropBoundingAndAmbientOfThisThread();
        Credentials.SwitchProcessTo(plan.Uid, plan.Gid);
        Capabilities.ClearThisThread();
        NoNewPrivs.SetOnThisThread();
        Landlock.RestrictThisThread(plan.Rules, plan.TcpConnect);
    }

    /// <summary>
    /// Stage 1 of a guest host as one call: confines the calling thread to <paramref name="uid"/>:<paramref name="gid"/>
    /// with Landlock rules for the program's own files, the rootfs behind <paramref name="rootfsFd"/> (read-only or not)
    /// and the module behind <paramref name="moduleFd"/>, then execs this program with <paramref name="stage2Argv"/>
    /// (argv[0] included) and an empty environment. Returns only by throwing.
    /// </summary>
    /// <remarks>
    /// <paramref name="reopenedFds"/> are descriptors the guest host will reopen through <c>/proc/self/fd</c> (the
    /// engine takes stdin as a path): they are given to the uid first, since reopening checks the owner, and a pipe
    /// made by root is root's, mode 0600. Landlock lets a pipe through; a named FIFO would need a rule of its own.
    /// </remarks>
    public static void ConfineAndExec(
        uint uid, uint gid, int rootfsFd, bool rootfsReadOnly, int moduleFd, IReadOnlyList<int> reopenedFds, Func<string, IReadOnlyList<string>> stage2Argv)
        => ConfineAndExec(uid, gid, rootfsFd, rootfsReadOnly, moduleFd, reopenedFds, stage2Argv, [], []);

    /// <summary>
    /// As above, and first enters the namespaces behind <paramref name="namespaceFds"/> (the sandbox's network, UTS and
    /// IPC: setns needs the privilege stage 1 is about to drop; the descriptors are closed after) and lets the guest
    /// host reach the directories behind <paramref name="directories"/> too (a container's bind mounts).
    /// </summary>
    public static void ConfineAndExec(
        uint uid, uint gid, int rootfsFd, bool rootfsReadOnly, int moduleFd, IReadOnlyList<int> reopenedFds, Func<string, IReadOnlyList<string>> stage2Argv,
        IReadOnlyList<int> namespaceFds, IReadOnlyList<(int Fd, bool ReadOnly)> directories, bool outgoingHttp = false)
    {
        ArgumentNullException.ThrowIfNull(reopenedFds);
        ArgumentNullException.ThrowIfNull(stage2Argv);
        ArgumentNullException.ThrowIfNull(namespaceFds);
        ArgumentNullException.ThrowIfNull(directories);
        foreach (var fd in namespaceFds)
        {
            using var ns = new SafeFdHandle(fd, ownsHandle: true);
            if (Interop.SetNs(ns, 0) != 0)
                UnixErrors.ThrowLast($"setns(fd {fd})");
        }
        foreach (var fd in reopenedFds)
        {
            if (Interop.FChown(fd, uid, gid) != 0)
                UnixErrors.ThrowLast($"fchown(fd {fd})");
        }
        var program = Environment.ProcessPath ?? throw new InvalidOperationException("cannot tell this program's own path");
        var rules = new List<LandlockRule>(ProgramRules(program))
        {
            new(Inherited(rootfsFd), rootfsReadOnly ? LandlockFs.Read : LandlockFs.ReadWrite, "rootfs"),
            new(Inherited(moduleFd), LandlockFs.ReadFile, "module"),
        };
        foreach (var (fd, readOnly) in directories)
            rules.Add(new(Inherited(fd), readOnly ? LandlockFs.Read : LandlockFs.ReadWrite, "bind mount"));
        if (outgoingHttp)
        {
            foreach (var file in ResolverFiles.Where(File.Exists))
                rules.Add(Beneath(file, LandlockFs.ReadFile));
        }
        ConfineThisThread(new ConfinementPlan(uid, gid, rules, TcpConnect: outgoingHttp));
        // Nothing of the host's environment crosses, the runtime's knobs (DOTNET_*) included.
        Exec(program, stage2Argv(program), []);
    }

    /// <summary>Execs <paramref name="program"/> with exactly <paramref name="argv"/> and <paramref name="environment"/>; returns only by throwing.</summary>
    public static unsafe void Exec(string program, IReadOnlyList<string> argv, IReadOnlyList<string> environment)
    {
        using var nativeArgv = new NativeStringArray(argv);
        using var nativeEnvp = new NativeStringArray(environment);
        Interop.Execve(program, nativeArgv.Pointer, nativeEnvp.Pointer);
        UnixErrors.ThrowLast("execve", program);
    }

    /// <summary>
    /// Stage 2, first thing after the exec: refuses to go on unless stage 1 really happened (non-root, no capability,
    /// no_new_privs), makes the process non-dumpable and installs <paramref name="filter"/> on every thread.
    /// </summary>
    public static ConfinementStatus FinishAfterExec(SeccompFilter filter)
    {
        ArgumentNullException.ThrowIfNull(filter);
        var inherited = ConfinementStatus.Read("/proc/self/status");
        if (!inherited.HoldsNothing)
            throw new InvalidOperationException($"refusing to run guests unconfined: {inherited}");
        // exec made the process dumpable again; nothing of ours needs a core dump or a same-uid ptrace.
        if (Interop.Prctl(Interop.PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
            UnixErrors.ThrowLast("prctl(PR_SET_DUMPABLE, 0)");
        filter.InstallOnAllThreads();
        return ConfinementStatus.Read("/proc/self/status");
    }

    /// <summary>
    /// SIGKILL when the thread that spawned this process ends (a daemon's guest host: the daemon died), so a guest host
    /// never outlives it, not even a stopped (paused) one. Call after the exec: a credential change clears it.
    /// </summary>
    public static void DieWithParent()
    {
        if (Interop.Prctl(Interop.PR_SET_PDEATHSIG, 9, 0, 0, 0) != 0)
            UnixErrors.ThrowLast("prctl(PR_SET_PDEATHSIG)");
    }

    /// <summary>Wraps an inherited descriptor number for a rule without taking ownership of it.</summary>
    public static SafeHandle Inherited(int fd) => new SafeFdHandle(fd, ownsHandle: false);
}
