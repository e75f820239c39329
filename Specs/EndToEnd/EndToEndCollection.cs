using Xunit;

namespace WasmKata.Specs.EndToEnd;

/// <summary>Every end-to-end spec shares one private containerd and runs one at a time.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class EndToEndCollection : ICollectionFixture<ContainerdFixture>
{
    public const string Name = "EndToEnd";
}
