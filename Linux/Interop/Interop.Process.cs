using System.Runtime.InteropServices;

namespace WasmKata.Linux;

internal static partial class Interop
{
    internal const int PR_SET_CHILD_SUBREAPER = 36;
    internal const int PR_GET_CHILD_SUBREAPER = 37;
    internal const int SC_CLK_TCK = 2;
    internal const int WNOHANG = 1;

    [LibraryImport(Libc, EntryPoint = "kill", SetLastError = true)]
    internal static partial int Kill(int pid, int signal);

    [LibraryImport(Libc, EntryPoint = "gettid")]
    internal static partial int GetTid();

    // prctl(2) is variadic; every argument is register-sized, which is ABI compatible on x86-64.
    [LibraryImport(Libc, EntryPoint = "prctl", SetLastError = true)]
    internal static partial int Prctl(int option, nuint arg2, nuint arg3, nuint arg4, nuint arg5);

    [LibraryImport(Libc, EntryPoint = "sysconf", SetLastError = true)]
    internal static partial long Sysconf(int name);

    [LibraryImport(Libc, EntryPoint = "_exit")]
    internal static partial void Exit(int status);

    [LibraryImport(Libc, EntryPoint = "waitpid", SetLastError = true)]
    internal static partial int WaitPid(int pid, out int status, int options);
}
