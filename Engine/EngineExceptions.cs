namespace WasmKata.Engine;

/// <summary>A file that cannot be run as a core WebAssembly module; the message says which file and why.</summary>
public sealed class InvalidModuleException : Exception
{
    /// <summary>Creates the exception for <paramref name="path"/> with the reason appended to the standard prefix.</summary>
    public InvalidModuleException(string path, string reason, Exception? inner = null)
        : base($"invalid wasm module {path}: {reason}", inner)
    {
        ModulePath = path;
        Reason = reason;
    }

    /// <summary>The host path that was loaded.</summary>
    public string ModulePath { get; }

    /// <summary>Why the file was refused, without the prefix.</summary>
    public string Reason { get; }
}

/// <summary>A valid module that cannot be started in its configuration (missing import or export, bad preopen, start trap).</summary>
public sealed class GuestStartException : Exception
{
    /// <summary>Creates the exception for the module at <paramref name="path"/>.</summary>
    public GuestStartException(string path, string reason, Exception? inner = null)
        : base($"cannot start wasm module {path}: {reason}", inner)
    {
        Reason = reason;
    }

    /// <summary>Why the guest could not start, without the prefix.</summary>
    public string Reason { get; }
}
