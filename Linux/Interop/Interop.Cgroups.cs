using System.Runtime.InteropServices;

namespace WasmKata.Linux;

internal static partial class Interop
{
    [LibraryImport(Libc, EntryPoint = "rmdir", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Rmdir(string path);
}
