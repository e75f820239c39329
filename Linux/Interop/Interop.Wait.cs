using System.Runtime.InteropServices;

namespace WasmKata.Linux;

internal static partial class Interop
{
    internal const int P_PID = 1;
    internal const int P_PIDFD = 3;
    internal const int WEXITED = 4;
    internal const int WNOWAIT = 0x01000000;

    internal const int CLD_EXITED = 1;
    internal const int CLD_KILLED = 2;
    internal const int CLD_DUMPED = 3;

    internal const int SIGKILL = 9;

    // x86-64 syscall numbers; called through syscall(2) so glibc older than 2.36 (no wrappers) works too.
    private const long SYS_pidfd_send_signal = 424;
    private const long SYS_pidfd_open = 434;

    /// <summary>The head of x86-64 <c>siginfo_t</c> as waitid(2) fills it for a child; the kernel writes 128 bytes.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 128)]
    internal struct SigInfo
    {
        [FieldOffset(0)] internal int Signo;
        [FieldOffset(8)] internal int Code;

        // The union starts at 16 because it holds pointers.
        [FieldOffset(16)] internal int Pid;
        [FieldOffset(24)] internal int Status;
    }

    /// <summary>pidfd_open(2): a close-on-exec fd that becomes readable when <paramref name="pid"/> exits; -1 and errno on failure.</summary>
    internal static int PidfdOpen(int pid) => (int)Syscall2(SYS_pidfd_open, pid, 0);

    /// <summary>pidfd_send_signal(2) without siginfo; works until the process is reaped, never reaching a reused pid.</summary>
    internal static int PidfdSendSignal(SafeFdHandle pidfd, int signal)
    {
        var added = false;
        pidfd.DangerousAddRef(ref added);
        try
        {
            return (int)Syscall4(SYS_pidfd_send_signal, pidfd.DangerousFd, signal, 0, 0);
        }
        finally
        {
            if (added)
                pidfd.DangerousRelease();
        }
    }

    // syscall(2) is variadic and reads every argument as a long; passing longs keeps the upper halves defined.
    [LibraryImport(Libc, EntryPoint = "syscall", SetLastError = true)]
    private static partial long Syscall2(long number, long arg1, long arg2);

    [LibraryImport(Libc, EntryPoint = "syscall", SetLastError = true)]
    private static partial long Syscall4(long number, long arg1, long arg2, long arg3, long arg4);

    [LibraryImport(Libc, EntryPoint = "waitid", SetLastError = true)]
    internal static unsafe partial int WaitId(int idType, uint id, SigInfo* info, int options);

    [LibraryImport(Libc, EntryPoint = "getsid", SetLastError = true)]
    internal static partial int GetSid(int pid);
}
