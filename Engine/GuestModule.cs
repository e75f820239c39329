using Wasmtime;
using Wasmtime.Components;

namespace WasmKata.Engine;

/// <summary>Where a loaded module's compiled code came from.</summary>
public enum ModuleSource
{
    /// <summary>Compiled from the module bytes now.</summary>
    Compiled,

    /// <summary>Deserialized from the on-disk cache.</summary>
    DiskCache,

    /// <summary>Already loaded by this engine (same bytes).</summary>
    MemoryCache,
}

/// <summary>What a WebAssembly binary is, as its header says.</summary>
public enum WasmKind
{
    /// <summary>A core module (version 1): runs as a WASI preview 1 command (<c>_start</c>).</summary>
    CoreModule,

    /// <summary>A component (the component model's binary, layer 1): runs as a WASI 0.2 command (<c>wasi:cli/run</c>).</summary>
    Component,
}

/// <summary>A validated, compiled core module or component, ready to instantiate any number of times; owned by its engine.</summary>
public sealed class GuestModule
{
    internal GuestModule(WasmEngine owner, string path, string digest, ModuleSource source, CompiledWasm code)
    {
        Owner = owner;
        Path = path;
        Digest = digest;
        Source = source;
        Code = code;
    }

    /// <summary>The host path it was loaded from.</summary>
    public string Path { get; }

    /// <summary>Lower-case hex SHA-256 of the module bytes.</summary>
    public string Digest { get; }

    /// <summary>Where this load found the compiled code.</summary>
    public ModuleSource Source { get; }

    /// <summary>Whether this is a core module or a component.</summary>
    public WasmKind Kind => Code.Kind;

    /// <summary>Whether this load runs baseline (Winch) code while the optimised code is being compiled.</summary>
    public bool Baseline => Code.Tier.Compiler == CompilerTier.Winch;

    internal WasmEngine Owner { get; }

    internal CompiledWasm Code { get; }

    /// <summary>The core module; only for <see cref="WasmKind.CoreModule"/>.</summary>
    internal Module Module => Code.Module ?? throw new InvalidOperationException($"{Path} is a component, not a core module");
}

/// <summary>
/// Compiled code of either kind: exactly one of <see cref="Module"/> and <see cref="Component"/> is set; it runs in stores
/// of its <see cref="Tier"/> only.
/// </summary>
internal sealed class CompiledWasm : IDisposable
{
    public CompiledWasm(Module module, EngineTier tier)
    {
        Module = module;
        Tier = tier;
    }

    public CompiledWasm(Component component, EngineTier tier)
    {
        Component = component;
        Tier = tier;
    }

    public Module? Module { get; }

    public Component? Component { get; }

    public EngineTier Tier { get; }

    public WasmKind Kind => Component is null ? WasmKind.CoreModule : WasmKind.Component;

    public void Dispose()
    {
        Module?.Dispose();
        Component?.Dispose();
    }
}
