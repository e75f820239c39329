using System.Runtime.InteropServices;

namespace WasmKata.Linux;

internal static partial class Interop
{
    internal const int CLONE_NEWUTS = 0x04000000;
    internal const int CLONE_NEWIPC = 0x08000000;
    internal const int CLONE_NEWNET = 0x40000000;

    /// <summary>unshare(2): in a multi-threaded process this moves only the calling thread.</summary>
    [LibraryImport(Libc, EntryPoint = "unshare", SetLastError = true)]
    internal static partial int Unshare(int flags);

    /// <summary>setns(2): the calling thread joins the namespace behind <paramref name="fd"/>.</summary>
    [LibraryImport(Libc, EntryPoint = "setns", SetLastError = true)]
    internal static partial int SetNs(SafeFdHandle fd, int nstype);

    [LibraryImport(Libc, EntryPoint = "sethostname", SetLastError = true)]
    internal static unsafe partial int SetHostname(byte* name, nuint length);
}
