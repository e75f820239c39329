using System.Runtime.InteropServices;

namespace WasmKata.Shim.GuestHost;

/// <summary>
/// glibc's heap after the engine compiled and instantiated the module: the compile's scratch memory is free but still
/// mapped, and a guest host keeps it for the guest's whole life. <c>malloc_trim</c> hands it back.
/// </summary>
internal static partial class NativeHeap
{
    public static void Trim() => MallocTrim(0);

    [LibraryImport("libc", EntryPoint = "malloc_trim")]
    private static partial int MallocTrim(nuint pad);
}
