namespace WasmKata.Linux.Confinement;

/// <summary>
/// The seccomp allow-list of a guest host: the system calls that NativeAOT .NET, glibc, Wasmtime and our WASI host
/// functions make once the process is confined, found by tracing guests that print, read stdin, sleep, use files and
/// clocks (<c>strace -f</c>, see docs/guest-host.md) and checked by a spec that runs them under a kill-on-unlisted filter.
/// </summary>
/// <remarks>
/// Not here on purpose, among others: execve/execveat, fork/vfork, ptrace, process_vm_*, mount and the new mount API,
/// umount2, pivot_root, chroot, unshare, setns, set*id and setgroups, capset, socket/socketpair/connect/bind/listen/accept,
/// kill (tgkill stays: the runtime signals its own threads), init_module/finit_module, bpf, perf_event_open, keyctl,
/// add_key, userfaultfd, io_uring_*, kexec_*, reboot, swapon, chown and friends, mknod, acct, quotactl, syslog,
/// open_by_handle_at, name_to_handle_at.
/// </remarks>
public static class GuestHostSyscalls
{
    /// <summary>Memory: the GC heap, Wasmtime's linear memories, guard pages and code.</summary>
    public static IReadOnlyList<string> Memory { get; } =
        ["brk", "mmap", "munmap", "mprotect", "mremap", "madvise", "membarrier", "mincore", "msync", "get_mempolicy",
            // Wasmtime keeps a module's initial memory image in a memfd, mapped copy-on-write into each instance.
            "memfd_create"];

    /// <summary>Threads, futexes and signals within the process (the runtime suspends its own threads with tgkill).</summary>
    public static IReadOnlyList<string> Threads { get; } =
    [
        "clone", "clone3", "exit", "exit_group", "futex", "set_robust_list", "get_robust_list", "rseq", "set_tid_address",
        "gettid", "getpid", "getppid", "tgkill", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack",
        "sched_yield", "sched_getaffinity", "sched_getparam", "sched_getscheduler", "getpriority", "setpriority",
        "prctl", "arch_prctl", "getrlimit", "prlimit64", "getrusage", "sysinfo", "uname",
        "getuid", "geteuid", "getgid", "getegid",
    ];

    /// <summary>Time: WASI clocks, the epoch ticker, sleeps.</summary>
    public static IReadOnlyList<string> Time { get; } =
        ["clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep", "gettimeofday", "getrandom",
            // A futex or sleep with a timeout interrupted by SIGSTOP resumes through it after SIGCONT (pause/resume);
            // refused, glibc aborts ("The futex facility returned an unexpected error code").
            "restart_syscall"];

    /// <summary>I/O on descriptors the guest host holds: stdio pipes, the report pipe, files opened by WASI.</summary>
    public static IReadOnlyList<string> Descriptors { get; } =
    [
        "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "preadv2", "pwritev2",
        "lseek", "close", "close_range", "dup", "dup2", "dup3", "fcntl", "ioctl", "pipe2", "poll", "ppoll",
        "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "eventfd2", "fstat", "fstatfs", "fsync", "fdatasync",
        "ftruncate", "fallocate", "fadvise64", "flock",
    ];

    /// <summary>File system calls WASI makes beneath its preopens (Landlock decides where they may land).</summary>
    public static IReadOnlyList<string> Files { get; } =
    [
        // openat2 with RESOLVE_BENEATH is how Wasmtime's cap-std keeps a guest's paths inside its preopens.
        "openat", "openat2", "stat", "lstat", "newfstatat", "statx", "statfs", "getdents64", "readlinkat", "readlink", "faccessat", "faccessat2", "access",
        "getcwd", "mkdirat", "unlinkat", "renameat", "renameat2", "linkat", "symlinkat", "utimensat", "fchmod", "fchmodat",
    ];

    /// <summary>
    /// Outgoing connections (wasi:http through Wasmtime's Tokio runtime, and glibc's resolver), for the guest host of a
    /// container that asked for HTTP only; <c>socket</c> itself goes by its family (<see cref="OutgoingSocketFamilies"/>).
    /// No bind, listen or accept: nothing is served.
    /// </summary>
    public static IReadOnlyList<string> OutgoingNetwork { get; } =
    [
        "connect", "getsockopt", "setsockopt", "getsockname", "getpeername", "sendto", "recvfrom", "sendmsg", "recvmsg",
        "sendmmsg", "recvmmsg", "shutdown",
    ];

    /// <summary>The socket families a guest host with outgoing HTTP may open: AF_INET and AF_INET6 (not unix, netlink or raw packets).</summary>
    public static IReadOnlyList<int> OutgoingSocketFamilies { get; } = [2, 10];

    /// <summary>The whole list.</summary>
    public static IReadOnlyList<string> All { get; } = [.. Memory, .. Threads, .. Time, .. Descriptors, .. Files];
}
