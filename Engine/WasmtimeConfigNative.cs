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
    public static void SetCompiler(Wasmtime.Config config, CompilerTier tier) => With(config, native => StrategySet(native, (byte)tier));

    /// <summary>
    /// Cranelift at opt level none with the single-pass register allocator: under Winch, Cranelift still compiles the
    /// trampolines between host and wasm (a third of the Winch compile's CPU for Yosys, whose tables make most of its
    /// functions escape); these settings took that compile from 3.8-4.7 s to 3.4-3.6 s of CPU.
    /// </summary>
    public static void SetFastTrampolines(Wasmtime.Config config) => With(config, native =>
    {
        CraneliftOptLevelSet(native, OptLevelNone);
        RegallocAlgorithmSet(native, RegallocSinglePass);
    });

    private const byte OptLevelNone = 0;
    private const byte RegallocSinglePass = 1;

    private static void With(Wasmtime.Config config, Action<IntPtr> set)
    {
        var handle = (SafeHandle)NativeHandle(config);
        var added = false;
        handle.DangerousAddRef(ref added);
        try
        {
            set(handle.DangerousGetHandle());
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

    [LibraryImport(Library, EntryPoint = "wasmtime_config_cranelift_opt_level_set")]
    private static partial void CraneliftOptLevelSet(IntPtr config, byte level);

    [LibraryImport(Library, EntryPoint = "wasmtime_config_cranelift_regalloc_algorithm_set")]
    private static partial void RegallocAlgorithmSet(IntPtr config, byte algorithm);
}
