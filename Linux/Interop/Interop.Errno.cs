using System.Runtime.InteropServices;

namespace WasmKata.Linux;

internal static partial class Interop
{
    /// <summary>The errno values this assembly reacts to (x86-64 Linux numbering).</summary>
    internal static class Errno
    {
        internal const int EPERM = 1;
        internal const int ENOENT = 2;
        internal const int ESRCH = 3;
        internal const int EINTR = 4;
        internal const int EIO = 5;
        internal const int ENXIO = 6;
        internal const int EBADF = 9;
        internal const int ECHILD = 10;
        internal const int EAGAIN = 11;
        internal const int ENOMEM = 12;
        internal const int EACCES = 13;
        internal const int EBUSY = 16;
        internal const int EEXIST = 17;
        internal const int ENOTDIR = 20;
        internal const int EINVAL = 22;
        internal const int EMFILE = 24;
        internal const int ENOSPC = 28;
        internal const int EPIPE = 32;
        internal const int ENAMETOOLONG = 36;
        internal const int ELOOP = 40;
        internal const int ENOTSOCK = 88;
        internal const int EOPNOTSUPP = 95;
        internal const int EADDRINUSE = 98;
        internal const int ECONNREFUSED = 111;

        /// <summary>errno of the last P/Invoke declared with SetLastError.</summary>
        internal static int Last => Marshal.GetLastPInvokeError();

        internal static string Name(int errno) => errno switch
        {
            EPERM => "EPERM",
            ENOENT => "ENOENT",
            ESRCH => "ESRCH",
            EINTR => "EINTR",
            EIO => "EIO",
            ENXIO => "ENXIO",
            EBADF => "EBADF",
            ECHILD => "ECHILD",
            EAGAIN => "EAGAIN",
            ENOMEM => "ENOMEM",
            EACCES => "EACCES",
            EBUSY => "EBUSY",
            EEXIST => "EEXIST",
            ENOTDIR => "ENOTDIR",
            EINVAL => "EINVAL",
            EMFILE => "EMFILE",
            ENOSPC => "ENOSPC",
            EPIPE => "EPIPE",
            ENAMETOOLONG => "ENAMETOOLONG",
            ELOOP => "ELOOP",
            ENOTSOCK => "ENOTSOCK",
            EOPNOTSUPP => "EOPNOTSUPP",
            EADDRINUSE => "EADDRINUSE",
            ECONNREFUSED => "ECONNREFUSED",
            _ => "errno " + errno.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };

        /// <summary>"No such file or directory (ENOENT)".</summary>
        internal static string Describe(int errno) => $"{Marshal.GetPInvokeErrorMessage(errno)} ({Name(errno)})";
    }
}
