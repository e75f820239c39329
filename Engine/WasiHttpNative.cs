using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Wasmtime;
using Wasmtime.Components;

namespace WasmKata.Engine;

/// <summary>
/// The two calls of Wasmtime's C API that outgoing HTTP needs and the .NET embedding does not wrap: wasi:http in a
/// component linker, and the per-store HTTP context. The embedding's handles are reached with UnsafeAccessor (no
/// reflection, so NativeAOT needs no rooting).
/// </summary>
internal static partial class WasiHttpNative
{
    private const string Library = "wasmtime";

    /// <summary>Adds Wasmtime's <c>wasi:http/types</c> and <c>wasi:http/outgoing-handler</c> (synchronous) to <paramref name="linker"/>.</summary>
    public static void AddToLinker(ComponentLinker linker)
    {
        var handle = (SafeHandle)LinkerHandle(linker);
        var added = false;
        handle.DangerousAddRef(ref added);
        try
        {
            ThrowIfError(AddWasiHttp(handle.DangerousGetHandle()), "adding wasi:http to the component linker");
        }
        finally
        {
            if (added)
                handle.DangerousRelease();
        }
    }

    /// <summary>
    /// Gives <paramref name="store"/> its HTTP context; after its WASI configuration is set and before instantiation.
    /// Without it Wasmtime's wasi:http functions panic (the process aborts), so every store instantiated with a linker
    /// from <see cref="AddToLinker"/> must get one.
    /// </summary>
    public static void SetContext(Store store)
    {
        var context = ContextHandle(store);
        if (context == IntPtr.Zero)
            throw new ObjectDisposedException(nameof(Store));
        SetWasiHttp(context);
        GC.KeepAlive(store);
    }

    private static void ThrowIfError(IntPtr error, string what)
    {
        if (error == IntPtr.Zero)
            return;
        try
        {
            ErrorMessage(error, out var message);
            try
            {
                var text = message.Size == 0 ? "unknown error" : Marshal.PtrToStringUTF8(message.Data, checked((int)message.Size));
                throw new InvalidOperationException($"{what}: {text}");
            }
            finally
            {
                ByteVecDelete(ref message);
            }
        }
        finally
        {
            ErrorDelete(error);
        }
    }

    [UnsafeAccessor(UnsafeAccessorKind.Method, Name = "get_NativeHandle")]
    [return: UnsafeAccessorType("Wasmtime.Components.ComponentLinker+Handle, Wasmtime.Dotnet")]
    private static extern object LinkerHandle(ComponentLinker linker);

    [UnsafeAccessor(UnsafeAccessorKind.Field, Name = "contextHandle")]
    private static extern ref IntPtr ContextHandle(Store store);

    [LibraryImport(Library, EntryPoint = "wasmtime_component_linker_add_wasi_http")]
    private static partial IntPtr AddWasiHttp(IntPtr linker);

    [LibraryImport(Library, EntryPoint = "wasmtime_context_set_wasi_http")]
    private static partial void SetWasiHttp(IntPtr context);

    [LibraryImport(Library, EntryPoint = "wasmtime_error_message")]
    private static partial void ErrorMessage(IntPtr error, out ByteVec message);

    [LibraryImport(Library, EntryPoint = "wasmtime_error_delete")]
    private static partial void ErrorDelete(IntPtr error);

    [LibraryImport(Library, EntryPoint = "wasm_byte_vec_delete")]
    private static partial void ByteVecDelete(ref ByteVec vec);

    [StructLayout(LayoutKind.Sequential)]
    private struct ByteVec
    {
        public nuint Size;
        public IntPtr Data;
    }
}
