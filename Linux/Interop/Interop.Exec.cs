using System.Runtime.InteropServices;

namespace WasmKata.Linux;

internal static partial class Interop
{
    [LibraryImport(Libc, EntryPoint = "execv", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    internal static unsafe partial int Execv(string path, byte** argv);
}
