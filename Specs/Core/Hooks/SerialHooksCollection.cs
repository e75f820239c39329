using Xunit;

namespace WasmKata.Specs.Core.Hooks;

/// <summary>
/// Specs that reap zombies or count threads: they run alone, after the parallel specs, so no other spec's natively
/// spawned child (whose owner waits for it by pid) can be reaped, and no other spec's threads skew the count.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SerialHooksCollection
{
    public const string Name = "Hooks, serial";
}
