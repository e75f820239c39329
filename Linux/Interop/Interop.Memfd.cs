using System.Runtime.InteropServices;

namespace WasmKata.Linux;

internal static partial class Interop
{
    internal const uint MFD_CLOEXEC = 0x0001;

    [LibraryImport(Libc, EntryPoint = "memfd_create", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int MemfdCreate(string name, uint flags);
}
