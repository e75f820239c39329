using System.Globalization;
using Wasmtime;
using Wasmtime.Components;
using WasmtimeEngine = Wasmtime.Engine;

namespace WasmKata.Engine;

/// <summary>
/// One Wasmtime engine and what is bound to it: the linker with our WASI shadows, Wasmtime's own WASI for the
/// passthrough, and the component linker. Code compiled by one tier runs only in stores of the same tier.
/// </summary>
/// <remarks>
/// A shim has the optimising tier (Cranelift, one thread, the pooling allocator when configured) and, from the first
/// big module on, a baseline tier (Winch, compiling on every core, instances allocated on demand so it reserves no
/// second pool). Both have epoch interruption and are ticked together, so kill, pause and the CPU quota hold alike.
/// </remarks>
internal sealed class EngineTier : IDisposable
{
    private readonly Linker _linker;
    private readonly Linker _wasi;
    private readonly Lazy<Module> _passthrough;
    private readonly Lazy<ComponentLinker> _componentLinker;
    private readonly Lazy<ComponentLinker> _httpLinker;

    private EngineTier(CompilerTier compiler, WasmtimeEngine engine, string settingsKey)
    {
        Compiler = compiler;
        Engine = engine;
        SettingsKey = settingsKey;
        try
        {
            _wasi = new Linker(engine);
            _wasi.DefineWasi();
            _passthrough = new Lazy<Module>(() => Module.FromText(engine, "wasi-passthrough", WasiFdWrite.PassthroughWat));
            _componentLinker = new Lazy<ComponentLinker>(() => NewComponentLinker(http: false));
            _httpLinker = new Lazy<ComponentLinker>(() => NewComponentLinker(http: true));
            _linker = new Linker(engine);
            _linker.DefineWasi();
            _linker.AllowShadowing = true;
            WasiShadows.Define(_linker);
        }
        catch
        {
            _linker?.Dispose();
            _wasi?.Dispose();
            engine.Dispose();
            throw;
        }
    }

    public CompilerTier Compiler { get; }

    public WasmtimeEngine Engine { get; }

    /// <summary>What compiled code of this tier depends on: the disk cache keys its entries by it.</summary>
    public string SettingsKey { get; }

    public Linker Linker => _linker;

    /// <summary>WASI 0.2 (Wasmtime's own) for components; made when the first component is instantiated.</summary>
    public ComponentLinker ComponentLinker => _componentLinker.Value;

    /// <summary>The same with Wasmtime's wasi:http (types and outgoing-handler), for the components of containers that ask for it.</summary>
    public ComponentLinker HttpComponentLinker => _httpLinker.Value;

    /// <summary>
    /// A component linker with WASI 0.2 (and wasi:http when <paramref name="http"/>); the caller owns it. A store it
    /// instantiates with wasi:http needs <see cref="WasiHttpNative.SetContext"/>.
    /// </summary>
    public ComponentLinker NewComponentLinker(bool http)
    {
        var linker = new ComponentLinker(Engine);
        try
        {
            linker.AddWasiPreview2();
            if (http)
                WasiHttpNative.AddToLinker(linker);
            return linker;
        }
        catch
        {
            linker.Dispose();
            throw;
        }
    }

    /// <summary>The optimising tier: Cranelift on the calling thread only, the pooling allocator when configured.</summary>
    public static EngineTier Optimizing(EngineOptions options)
    {
        // No parallel compilation: Wasmtime would keep a rayon pool (a thread per core, for good) that helps little on
        // the small modules guests mostly are; big ones start on the baseline tier and reach this one in the background.
        using var config = new Wasmtime.Config().WithEpochInterruption(true).WithParallelCompilation(false);
        PoolingAllocationConfig? pooling = null;
        try
        {
            if (options.PoolingAllocator)
            {
                var slots = (uint)options.PoolingMaxInstances;
                pooling = new PoolingAllocationConfig()
                    .WithMaxCoreInstances(slots)
                    .WithMaxMemories(slots)
                    .WithMaxTables(slots)
                    .WithMaxMemorySize((nuint)options.PoolingMaxMemoryBytes)
                    .WithMaxUnusedWarmSlots(Math.Min(slots, 100u));
                config.WithPoolingAllocationStrategy(pooling);
            }
            return new EngineTier(CompilerTier.Cranelift, new WasmtimeEngine(config), SettingsKeyFor(options, CompilerTier.Cranelift));
        }
        finally
        {
            pooling?.Dispose();
        }
    }

    /// <summary>
    /// The baseline tier: Winch, compiling the functions of a module on every core (the first start of a big module
    /// waits for it), instances allocated on demand.
    /// </summary>
    public static EngineTier Baseline(EngineOptions options)
    {
        using var config = new Wasmtime.Config().WithEpochInterruption(true).WithParallelCompilation(true);
        WasmtimeConfigNative.SetCompiler(config, CompilerTier.Winch);
        WasmtimeConfigNative.SetFastTrampolines(config);
        return new EngineTier(CompilerTier.Winch, new WasmtimeEngine(config), SettingsKeyFor(options, CompilerTier.Winch));
    }

    /// <summary>
    /// Wasmtime's own <c>fd_write</c>, <c>fd_read</c> and <c>fd_fdstat_get</c> for <paramref name="store"/>, reached through a tiny instance of its own (WASI
    /// finds its buffers in the calling instance's memory, so a host function cannot call it directly).
    /// </summary>
    public WasiPassthrough Passthrough(Store store)
    {
        var instance = _wasi.Instantiate(store, _passthrough.Value);
        return new WasiPassthrough(
            instance.GetMemory("memory") ?? throw new InvalidOperationException("the passthrough module exports no memory"),
            instance.GetFunction("fd_write")?.WrapFunc<int, int, int, int, int>()
                ?? throw new InvalidOperationException("the passthrough module exports no fd_write"),
            instance.GetFunction("fd_read")?.WrapFunc<int, int, int, int, int>()
                ?? throw new InvalidOperationException("the passthrough module exports no fd_read"),
            instance.GetFunction("fd_fdstat_get")?.WrapFunc<int, int, int>()
                ?? throw new InvalidOperationException("the passthrough module exports no fd_fdstat_get"),
            instance.GetFunction("fd_close")?.WrapFunc<int, int>()
                ?? throw new InvalidOperationException("the passthrough module exports no fd_close"),
            instance.GetFunction("fd_renumber")?.WrapFunc<int, int, int>()
                ?? throw new InvalidOperationException("the passthrough module exports no fd_renumber"));
    }

    public void Dispose()
    {
        _linker.Dispose();
        _wasi.Dispose();
        if (_passthrough.IsValueCreated)
            _passthrough.Value.Dispose();
        if (_componentLinker.IsValueCreated)
            _componentLinker.Value.Dispose();
        if (_httpLinker.IsValueCreated)
            _httpLinker.Value.Dispose();
        Engine.Dispose();
    }

    /// <summary>The <see cref="SettingsKey"/> a tier of <paramref name="compiler"/> made from <paramref name="options"/> has.</summary>
    internal static string SettingsKeyFor(EngineOptions options, CompilerTier compiler)
    {
        var version = System.Reflection.CustomAttributeExtensions.GetCustomAttribute<System.Reflection.AssemblyInformationalVersionAttribute>(typeof(WasmtimeEngine).Assembly)?.InformationalVersion
            ?? typeof(WasmtimeEngine).Assembly.GetName().Version?.ToString() ?? "?";
        var common = $"wasmtime={version};arch={System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture};epoch=1";
        // The Cranelift key is the one entries had before there were tiers, so those stay valid.
        return compiler == CompilerTier.Cranelift
            ? string.Create(CultureInfo.InvariantCulture,
                $"{common};pooling={options.PoolingAllocator};slots={options.PoolingMaxInstances};maxmem={options.PoolingMaxMemoryBytes}")
            : string.Create(CultureInfo.InvariantCulture, $"{common};compiler=winch;trampolines=none-singlepass");
    }
}
