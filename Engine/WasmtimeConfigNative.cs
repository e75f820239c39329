using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace WasmKata.Engine;

/// <summary>Wasmtime's compiler choice, as the C API numbers it (<c>wasmtime_strategy_t</c>).</summary>
internal enum CompilerTier : byte
{
    /// <summary>Cranelift, the optimising compiler: slow to compile, fast code.</summary>
    Cranelift = 1,

    /// <summary>Winch, the baseline compiler: one pass per function, about ten times faster to compile, slower code.</summary>
    Winch = 2,
}

/// <summary>
/// The engine settings the .NET binding of Wasmtime 50 does not offer, set through the C API on the binding's own
/// config handle (its <c>WithCompilerStrategy</c> refuses Winch, which the native library has).
/// </summary>
internal static partial class WasmtimeConfigNative
{
    private const string Library = "wasmtime";

    /// <summary>Picks the compiler of every module an engine made from <paramref name="config"/> compiles.</summary>
    public static void SetCompiler(Wasmtime.Config config, CompilerTier tier)
    {
        var handle = (SafeHandle)NativeHandle(config);
        var added = false;
        handle.DangerousAddRef(ref added);
        try
        {
            StrategySet(handle.DangerousGetHandle(), (byte)tier);
        }
        finally
        {
            if (added)
                handle.DangerousRelease();
        }
    }

    // Config.NativeHandle is internal and its type (Config.Handle, a SafeHandle) private: the accessor is resolved at
    // compile time, so NativeAOT keeps it without reflection.
    [UnsafeAccessor(UnsafeAccessorKind.Method, Name = "get_NativeHandle")]
    [return: UnsafeAccessorType("Wasmtime.Config+Handle, Wasmtime.Dotnet")]
    private static extern object NativeHandle(Wasmtime.Config config);

    [LibraryImport(Library, EntryPoint = "wasmtime_config_strategy_set")]
    private static partial void StrategySet(IntPtr config, byte strategy);
}
