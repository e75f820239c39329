using System.Runtime.InteropServices;

namespace WasmKata.Linux;

// What a guest host uses to give up privilege: credentials, capabilities, no_new_privs, seccomp and Landlock.
internal static partial class Interop
{
    internal const int PR_CAPBSET_READ = 23;
    internal const int PR_CAPBSET_DROP = 24;
    internal const int PR_SET_DUMPABLE = 4;
    internal const int PR_SET_PDEATHSIG = 1;
    internal const int PR_SET_NO_NEW_PRIVS = 38;
    internal const int PR_GET_NO_NEW_PRIVS = 39;
    internal const int PR_CAP_AMBIENT = 47;
    internal const int PR_CAP_AMBIENT_CLEAR_ALL = 4;

    internal const int CLONE_NEWNS = 0x00020000;
    internal const ulong MS_PRIVATE = 1 << 18;

    internal const int O_PATH = 0x200000;
    internal const int O_DIRECTORY = 0x10000;

    /// <summary>_LINUX_CAPABILITY_VERSION_3: two 32-bit words per set.</summary>
    internal const uint CapabilityVersion3 = 0x20080522;

    // x86-64 system call numbers of the calls glibc does not wrap.
    internal const long SYS_capset = 126;
    internal const long SYS_seccomp = 317;
    internal const long SYS_landlock_create_ruleset = 444;
    internal const long SYS_landlock_add_rule = 445;
    internal const long SYS_landlock_restrict_self = 446;

    [StructLayout(LayoutKind.Sequential)]
    internal struct CapHeader
    {
        public uint Version;
        public int Pid;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct CapData
    {
        public uint Effective;
        public uint Permitted;
        public uint Inheritable;
    }

    /// <summary>struct sock_filter: one classic BPF instruction.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct SockFilter
    {
        public ushort Code;
        public byte JumpTrue;
        public byte JumpFalse;
        public uint K;
    }

    /// <summary>struct sock_fprog (x86-64: the count is padded to 8 bytes before the pointer).</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal unsafe struct SockFprog
    {
        public ushort Length;
        public SockFilter* Filter;
    }

    /// <summary>struct landlock_ruleset_attr as of ABI 6 (the kernel takes a shorter or zero-padded longer one).</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct LandlockRulesetAttr
    {
        public ulong HandledAccessFs;
        public ulong HandledAccessNet;
        public ulong Scoped;
    }

    /// <summary>struct landlock_path_beneath_attr, which the kernel declares packed (12 bytes).</summary>
    [StructLayout(LayoutKind.Sequential, Pack = 1)]
    internal struct LandlockPathBeneathAttr
    {
        public ulong AllowedAccess;
        public int ParentFd;
    }

    // glibc's set*id calls change every thread of the process (it signals each one), unlike the raw system calls.
    [LibraryImport(Libc, EntryPoint = "setresuid", SetLastError = true)]
    internal static partial int SetResUid(uint real, uint effective, uint saved);

    [LibraryImport(Libc, EntryPoint = "setresgid", SetLastError = true)]
    internal static partial int SetResGid(uint real, uint effective, uint saved);

    [LibraryImport(Libc, EntryPoint = "setgroups", SetLastError = true)]
    internal static unsafe partial int SetGroups(nuint size, uint* list);

    [LibraryImport(Libc, EntryPoint = "fchown", SetLastError = true)]
    internal static partial int FChown(int fd, uint uid, uint gid);

    [LibraryImport(Libc, EntryPoint = "syscall", SetLastError = true)]
    internal static partial long Syscall3(long number, nint arg1, nint arg2, nint arg3);

    [LibraryImport(Libc, EntryPoint = "syscall", SetLastError = true)]
    internal static partial long Syscall4(long number, nint arg1, nint arg2, nint arg3, nint arg4);

    [LibraryImport(Libc, EntryPoint = "execve", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    internal static unsafe partial int Execve(string path, byte** argv, byte** envp);
}
