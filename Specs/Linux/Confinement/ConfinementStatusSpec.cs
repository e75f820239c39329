using WasmKata.Linux.Confinement;
using Xunit;

namespace WasmKata.Specs.Linux.Confinement;

public sealed class ConfinementStatusSpec
{
    private static readonly string[] Confined =
    [
        "Name:\tcontainerd-shim", "Uid:\t100000\t100000\t100000\t100000", "Gid:\t100000\t100000\t100000\t100000",
        "CapInh:\t0000000000000000", "CapPrm:\t0000000000000000", "CapEff:\t0000000000000000",
        "CapBnd:\t0000000000000000", "CapAmb:\t0000000000000000", "NoNewPrivs:\t1", "Seccomp:\t2", "Seccomp_filters:\t1",
    ];

    [Fact]
    public void Parse_must_read_ids_capability_masks_and_flags()
    {
        var status = ConfinementStatus.Parse(Confined);
        Assert.Equal([100000u, 100000u, 100000u, 100000u], status.Uids);
        Assert.True(status.NoNewPrivs);
        Assert.Equal(2, status.Seccomp);
        Assert.True(status.HoldsNothing);
    }

    [Fact]
    public void Root_or_any_capability_must_not_pass_for_confined()
    {
        Assert.False(ConfinementStatus.Parse(Confined.Select(l => l.StartsWith("Uid:", StringComparison.Ordinal) ? "Uid:\t0\t0\t0\t0" : l)).HoldsNothing);
        Assert.False(ConfinementStatus.Parse(Confined.Select(l => l.StartsWith("CapBnd:", StringComparison.Ordinal) ? "CapBnd:\t0000000000000400" : l)).HoldsNothing);
        Assert.False(ConfinementStatus.Read("/proc/self/status").HoldsNothing);
    }

    [Fact]
    public void Parse_must_name_a_missing_line()
    {
        var e = Assert.Throws<InvalidDataException>(() => ConfinementStatus.Parse(Confined.Where(l => !l.StartsWith("NoNewPrivs", StringComparison.Ordinal))));
        Assert.Contains("NoNewPrivs", e.Message, StringComparison.Ordinal);
    }
}
