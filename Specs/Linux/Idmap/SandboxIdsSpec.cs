using WasmKata.Linux.Idmap;
using Xunit;

namespace WasmKata.Specs.Linux.Idmap;

[Trait("Requires", "root")]
public sealed class SandboxIdsSpec : IDisposable
{
    // A block of its own: the allocator specs use 3000000000, the rootfs specs 3100000000.
    private const uint Base = 3_200_000_000;

    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void A_sandbox_must_get_a_range_and_its_namespace_and_free_the_range_once_disposed()
    {
        var allocator = new IdRangeAllocator(Base, 4, _dir.Path);

        var ids = SandboxIds.Allocate(allocator, "pod-a");
        using var other = SandboxIds.Allocate(allocator, "pod-b");

        Assert.Equal((Base, Base + IdRange.SandboxSize), (ids.RootHostId, other.RootHostId));
        Assert.Equal(ids.Allocation.Range, ids.UserNamespace.Range);
        Assert.Equal(ids.Allocation.Range, allocator.Find("pod-a"));
        ids.Dispose();
        ids.Dispose();
        Assert.Null(allocator.Find("pod-a"));
        Assert.Equal(other.Allocation.Range, allocator.Find("pod-b"));
    }

    [Fact]
    public void An_exhausted_block_must_be_refused_with_the_settings_to_raise_and_hold_nothing()
    {
        var allocator = new IdRangeAllocator(Base, 1, _dir.Path);
        using var held = SandboxIds.Allocate(allocator, "pod-a");

        var e = Assert.Throws<IdRangesExhaustedException>(() => SandboxIds.Allocate(allocator, "pod-b"));

        Assert.Contains(IdRangeAllocator.SettingNames, e.Message, StringComparison.Ordinal);
        Assert.Null(allocator.Find("pod-b"));
    }
}
