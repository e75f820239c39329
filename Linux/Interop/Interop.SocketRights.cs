using System.Runtime.InteropServices;

namespace WasmKata.Linux;

internal static partial class Interop
{
    internal const int SOL_SOCKET = 1;
    internal const int SCM_RIGHTS = 1;
    internal const int MSG_CTRUNC = 0x8;
    internal const int MSG_DONTWAIT = 0x40;
    internal const int MSG_NOSIGNAL = 0x4000;
    internal const int MSG_CMSG_CLOEXEC = 0x40000000;

    /// <summary>struct iovec (x86-64).</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal unsafe struct IoVec
    {
        public void* Base;
        public nuint Length;
    }

    /// <summary>struct msghdr (x86-64: the socklen_t is padded to 8 bytes, the lengths are size_t).</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal unsafe struct MsgHdr
    {
        public void* Name;
        public uint NameLength;
        public IoVec* Iov;
        public nuint IovLength;
        public void* Control;
        public nuint ControlLength;
        public int Flags;
    }

    /// <summary>struct cmsghdr (x86-64): a size_t length, level and type; the data follows, 8-byte aligned.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct CmsgHdr
    {
        public nuint Length;
        public int Level;
        public int Type;
    }

    /// <summary>sizeof(struct cmsghdr), which CMSG_DATA skips.</summary>
    internal const int CmsgHeaderSize = 16;

    /// <summary>CMSG_LEN(sizeof(int)): the header and one fd.</summary>
    internal const int CmsgLenOneFd = CmsgHeaderSize + sizeof(int);

    /// <summary>CMSG_SPACE(sizeof(int)): CMSG_LEN rounded up to 8 bytes.</summary>
    internal const int CmsgSpaceOneFd = (CmsgLenOneFd + 7) & ~7;

    [LibraryImport(Libc, EntryPoint = "sendmsg", SetLastError = true)]
    internal static unsafe partial nint SendMsg(SafeHandle socket, MsgHdr* message, int flags);

    [LibraryImport(Libc, EntryPoint = "recvmsg", SetLastError = true)]
    internal static unsafe partial nint RecvMsg(SafeHandle socket, MsgHdr* message, int flags);
}
