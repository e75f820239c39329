namespace WasmKata.Linux;

/// <summary>P/Invoke declarations for glibc, one partial file per concern.</summary>
internal static partial class Interop
{
    /// <summary>glibc; "libc" is mapped to libc.so.6 by the runtime's probing.</summary>
    internal const string Libc = "libc";
}
