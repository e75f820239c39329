using System.Runtime.InteropServices;

namespace WasmKata.Linux;

// The new mount API (open_tree, mount_setattr, move_mount, fsopen/fsconfig/fsmount): detached mounts held as fds,
// the only way to give a mount an idmapping.
internal static partial class Interop
{
    internal const int AT_EMPTY_PATH = 0x1000;
    internal const int AT_RECURSIVE = 0x8000;

    internal const int OPEN_TREE_CLONE = 1;
    internal const int OPEN_TREE_CLOEXEC = O_CLOEXEC;

    internal const int MOVE_MOUNT_F_EMPTY_PATH = 0x4;

    internal const ulong MOUNT_ATTR_RDONLY = 0x1;
    internal const ulong MOUNT_ATTR_NOSUID = 0x2;
    internal const ulong MOUNT_ATTR_NODEV = 0x4;
    internal const ulong MOUNT_ATTR_NOEXEC = 0x8;
    internal const ulong MOUNT_ATTR_NOATIME = 0x10;
    internal const ulong MOUNT_ATTR_IDMAP = 0x100000;

    internal const int FSOPEN_CLOEXEC = 1;
    internal const int FSMOUNT_CLOEXEC = 1;
    internal const int FSCONFIG_SET_FLAG = 0;
    internal const int FSCONFIG_SET_STRING = 1;
    internal const int FSCONFIG_SET_FD = 5;
    internal const int FSCONFIG_CMD_CREATE = 6;

    // x86-64 numbers, called through syscall(2): glibc before 2.36 has no wrappers.
    private const long SYS_open_tree = 428;
    private const long SYS_move_mount = 429;
    private const long SYS_fsopen = 430;
    private const long SYS_fsconfig = 431;
    private const long SYS_fsmount = 432;
    private const long SYS_mount_setattr = 442;
    private const long SYS_capget = 125;

    /// <summary>struct mount_attr (MOUNT_ATTR_SIZE_VER0, 32 bytes).</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct MountAttr
    {
        public ulong AttrSet;
        public ulong AttrClear;
        public ulong Propagation;
        public ulong UsernsFd;
    }

    internal static unsafe int OpenTree(string path, int flags)
    {
        fixed (byte* p = Utf8Z(path))
            return (int)SyscallN(SYS_open_tree, AT_FDCWD, (long)p, flags, 0, 0);
    }

    internal static unsafe int MountSetAttr(SafeFdHandle mountFd, int flags, MountAttr* attr)
    {
        using var fd = new Lease(mountFd);
        fixed (byte* empty = Empty)
            return (int)SyscallN(SYS_mount_setattr, fd.Fd, (long)empty, flags, (long)attr, sizeof(MountAttr));
    }

    internal static unsafe int MoveMount(SafeFdHandle mountFd, string target)
    {
        using var fd = new Lease(mountFd);
        fixed (byte* empty = Empty)
        fixed (byte* p = Utf8Z(target))
            return (int)SyscallN(SYS_move_mount, fd.Fd, (long)empty, AT_FDCWD, (long)p, MOVE_MOUNT_F_EMPTY_PATH);
    }

    internal static unsafe int FsOpen(string fsType)
    {
        fixed (byte* p = Utf8Z(fsType))
            return (int)SyscallN(SYS_fsopen, (long)p, FSOPEN_CLOEXEC, 0, 0, 0);
    }

    internal static unsafe int FsConfig(SafeFdHandle fsFd, int command, string? key, string? value, int aux)
    {
        using var fd = new Lease(fsFd);
        fixed (byte* k = key is null ? null : Utf8Z(key))
        fixed (byte* v = value is null ? null : Utf8Z(value))
            return (int)SyscallN(SYS_fsconfig, fd.Fd, command, (long)k, (long)v, aux);
    }

    internal static int FsMount(SafeFdHandle fsFd, ulong attributes)
    {
        using var fd = new Lease(fsFd);
        return (int)SyscallN(SYS_fsmount, fd.Fd, FSMOUNT_CLOEXEC, (long)attributes, 0, 0);
    }

    /// <summary>capget(2) of the calling thread into two 32-bit words per set.</summary>
    internal static unsafe int CapGet(CapHeader* header, CapData* data) =>
        (int)SyscallN(SYS_capget, (long)header, (long)data, 0, 0, 0);

    [LibraryImport(Libc, EntryPoint = "openat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int OpenAt(SafeFdHandle dirFd, string path, int flags, uint mode);

    // setfsuid(2)/setfsgid(2) change the calling thread only (glibc does not broadcast them): what a temporary
    // per-thread identity needs. They return the previous value and cannot report errors.
    [LibraryImport(Libc, EntryPoint = "setfsuid")]
    internal static partial int SetFsUid(uint uid);

    [LibraryImport(Libc, EntryPoint = "setfsgid")]
    internal static partial int SetFsGid(uint gid);

    [LibraryImport(Libc, EntryPoint = "syscall", SetLastError = true)]
    private static partial long SyscallN(long number, long arg1, long arg2, long arg3, long arg4, long arg5);

    private static ReadOnlySpan<byte> Empty => [0];

    private static byte[] Utf8Z(string text) => System.Text.Encoding.UTF8.GetBytes(text + "\0");

    /// <summary>Keeps a handle's fd from being closed and reused while a raw call uses its number.</summary>
    private readonly ref struct Lease
    {
        private readonly SafeFdHandle _handle;
        private readonly bool _added;

        public Lease(SafeFdHandle handle)
        {
            _handle = handle;
            handle.DangerousAddRef(ref _added);
        }

        public int Fd => _handle.DangerousFd;

        public void Dispose()
        {
            if (_added)
                _handle.DangerousRelease();
        }
    }
}
