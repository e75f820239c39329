using Xunit;

namespace WasmKata.Specs.Shim;

/// <summary>Specs that measure the process (GC heap, threads) run alone: no other collection runs beside them.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class QuietCollection
{
    public const string Name = "Quiet";
}
