using System.Runtime.InteropServices;

namespace WasmKata.Linux;

internal static partial class Interop
{
    [LibraryImport(Libc, EntryPoint = "geteuid")]
    internal static partial uint GetEffectiveUserId();
}
