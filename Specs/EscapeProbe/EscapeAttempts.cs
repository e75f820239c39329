using System.Runtime.InteropServices;

namespace WasmKata.EscapeProbe;

/// <summary>
/// What a guest that got native code in its guest host would try first. Each attempt makes the raw call and answers
/// "ok" or the errno name; the spec wants every one refused. The marker below lets the spec check the shipped shim
/// binary has none of this: wasmkata-escape-attempts.
/// </summary>
internal static partial class EscapeAttempts
{
    public const string Marker = "wasmkata-escape-attempts";

    private const long SYS_setuid = 105;
    private const long SYS_init_module = 175;
    private const long SYS_finit_module = 313;
    private const int O_RDONLY = 0;
    private const int O_WRONLY = 1;
    private const int O_CREAT = 0x40;
    private const int O_DIRECTORY = 0x10000;
    private const int AF_UNIX = 1;
    private const int AF_INET = 2;
    private const int SOCK_STREAM = 1;
    private const int SOCK_RAW = 3;
    private const int IPPROTO_ICMP = 1;
    private const long PTRACE_ATTACH = 16;
    private const int SIGKILL = 9;
    private const int CLONE_NEWUSER = 0x10000000;

    public static IEnumerable<(string Name, string Result)> RunAll(string otherRootfs, int victimPid, string containerdSocket)
    {
        yield return ("read /etc/shadow", Result(Open("/etc/shadow", O_RDONLY, 0)));
        yield return ("open another pod's rootfs", Result(Open(otherRootfs, O_RDONLY | O_DIRECTORY, 0)));
        yield return ("write /proc/sysrq-trigger", Result(Open("/proc/sysrq-trigger", O_WRONLY, 0)));
        yield return ("write /proc/sys/kernel/core_pattern", Result(Open("/proc/sys/kernel/core_pattern", O_WRONLY, 0)));
        // /tmp is world-writable: only Landlock stands between the guest host and it.
        yield return ("create a file in the host's /tmp", Result(Open("/tmp/wasmkata-escaped", O_WRONLY | O_CREAT, 0x1a4)));
        yield return ("open /proc/1/root", Result(Open("/proc/1/root", O_RDONLY | O_DIRECTORY, 0)));
        yield return ("mount tmpfs on /tmp", Result(Mount("tmpfs", "/tmp", "tmpfs", 0, null)));
        yield return ("ptrace containerd", Result(Ptrace(PTRACE_ATTACH, victimPid, 0, 0)));
        yield return ("kill containerd", Result(Kill(victimPid, SIGKILL)));
        yield return ("tgkill containerd", Result(Tgkill(victimPid, victimPid, SIGKILL)));
        yield return ("setuid(0)", Result(Syscall(SYS_setuid, 0, 0, 0)));
        yield return ("chroot /", Result(Chroot("/")));
        yield return ("init_module", Result(Syscall(SYS_init_module, 0, 0, 0)));
        yield return ("finit_module", Result(Syscall(SYS_finit_module, 0, 0, 0)));
        yield return ("unshare a user namespace", Result(Unshare(CLONE_NEWUSER)));
        yield return ("open a raw socket", Result(Socket(AF_INET, SOCK_RAW, IPPROTO_ICMP)));
        yield return ("connect to containerd's socket", ConnectUnix(containerdSocket));
        yield return ("execve /bin/sh", Result(Execve("/bin/sh", 0, 0)));
    }

    private static unsafe string ConnectUnix(string path)
    {
        var fd = Socket(AF_UNIX, SOCK_STREAM, 0);
        if (fd < 0)
            return "socket: " + Name(Marshal.GetLastPInvokeError());
        var address = new byte[110];
        BitConverter.GetBytes((ushort)AF_UNIX).CopyTo(address, 0);
        System.Text.Encoding.UTF8.GetBytes(path).CopyTo(address, 2);
        fixed (byte* a = address)
        {
            var r = Connect(fd, a, (uint)address.Length);
            return Result(r);
        }
    }

    private static string Result(long returned) => returned >= 0 ? "ok" : Name(Marshal.GetLastPInvokeError());

    private static string Name(int errno) => errno switch
    {
        1 => "EPERM",
        2 => "ENOENT",
        3 => "ESRCH",
        13 => "EACCES",
        14 => "EFAULT",
        22 => "EINVAL",
        38 => "ENOSYS",
        97 => "EAFNOSUPPORT",
        111 => "ECONNREFUSED",
        _ => "errno " + errno,
    };

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags, uint mode);

    [LibraryImport("libc", EntryPoint = "mount", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Mount(string source, string target, string type, ulong flags, string? data);

    [LibraryImport("libc", EntryPoint = "ptrace", SetLastError = true)]
    private static partial long Ptrace(long request, int pid, nint address, nint data);

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);

    [LibraryImport("libc", EntryPoint = "tgkill", SetLastError = true)]
    private static partial int Tgkill(int tgid, int tid, int signal);

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static partial long Syscall(long number, nint a, nint b, nint c);

    [LibraryImport("libc", EntryPoint = "chroot", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Chroot(string path);

    [LibraryImport("libc", EntryPoint = "unshare", SetLastError = true)]
    private static partial int Unshare(int flags);

    [LibraryImport("libc", EntryPoint = "socket", SetLastError = true)]
    private static partial int Socket(int domain, int type, int protocol);

    [LibraryImport("libc", EntryPoint = "connect", SetLastError = true)]
    private static unsafe partial int Connect(int fd, byte* address, uint length);

    [LibraryImport("libc", EntryPoint = "execve", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Execve(string path, nint argv, nint envp);
}
