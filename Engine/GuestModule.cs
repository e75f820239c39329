using Wasmtime;

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

/// <summary>A validated, compiled core module, ready to instantiate any number of times; owned by its engine.</summary>
public sealed class GuestModule
{
    internal GuestModule(WasmEngine owner, string path, string digest, ModuleSource source, Module module)
    {
        Owner = owner;
        Path = path;
        Digest = digest;
        Source = source;
        Module = module;
    }

    /// <summary>The host path it was loaded from.</summary>
    public string Path { get; }

    /// <summary>Lower-case hex SHA-256 of the module bytes.</summary>
    public string Digest { get; }

    /// <summary>Where this load found the compiled code.</summary>
    public ModuleSource Source { get; }

    internal WasmEngine Owner { get; }

    internal Module Module { get; }
}
