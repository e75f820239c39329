using WasmKata.Config;
using WasmKata.Core.Oci;
using WasmKata.Core.Plan;
using WasmKata.Linux;
using WasmKata.Linux.Cgroups;
using Xunit;

namespace WasmKata.Specs.Core.Plan;

/// <summary>How linux.resources become a container's limits and the sandbox cgroup's plan.</summary>
public sealed class ContainerLimitsSpec
{
    private static OciResources Resources(long? memory = null, long? quota = null, ulong? period = null, ulong? shares = null) => new()
    {
        Memory = new OciMemory { Limit = memory },
        Cpu = new OciCpu { Quota = quota, Period = period, Shares = shares },
    };

    [Fact]
    public void A_spec_must_give_its_memory_limit_quota_and_shares_and_nothing_for_absent_or_unlimited_figures()
    {
        Assert.Equal(new ContainerLimits(1 << 20, new GuestCpuLimit(20_000, 50_000), 512), ContainerLimits.FromSpec(Resources(1 << 20, 20_000, 50_000, 512)));
        Assert.Equal(ContainerLimits.None, ContainerLimits.FromSpec(null));
        Assert.Equal(ContainerLimits.None, ContainerLimits.FromSpec(Resources(-1, -1, 0, 0)));
        Assert.Equal(new GuestCpuLimit(30_000, GuestCpuLimit.DefaultPeriodUs), ContainerLimits.FromSpec(Resources(quota: 30_000)).Cpu);
    }

    [Fact]
    public void An_update_must_keep_what_it_leaves_out_and_lift_what_it_sets_to_minus_one()
    {
        var limits = ContainerLimits.FromSpec(Resources(1 << 20, 20_000, 100_000, 512));

        Assert.Equal(limits, limits.With(Resources()));
        Assert.Equal(limits with { MemoryLimitBytes = 2 << 20 }, limits.With(Resources(memory: 2 << 20)));
        Assert.Equal(limits with { MemoryLimitBytes = null }, limits.With(Resources(memory: -1)));
        Assert.Equal(limits with { Cpu = null }, limits.With(Resources(quota: -1)));
        Assert.Equal(limits with { Cpu = new GuestCpuLimit(20_000, 50_000) }, limits.With(Resources(period: 50_000)));
        Assert.Equal(limits with { Cpu = new GuestCpuLimit(40_000, 100_000) }, limits.With(Resources(quota: 40_000)));
        Assert.Equal(limits with { CpuShares = 2048 }, limits.With(Resources(shares: 2048)));
    }

    [Theory]
    [InlineData(-2L, null, null, null, "memory.limit")]
    [InlineData(null, -5L, null, null, "cpu.quota")]
    [InlineData(null, 999L, null, null, "cpu.quota")]
    [InlineData(null, null, 999UL, null, "cpu.period")]
    [InlineData(null, null, 2_000_000UL, null, "cpu.period")]
    [InlineData(null, null, null, 1UL, "cpu.shares")]
    [InlineData(null, null, null, 300_000UL, "cpu.shares")]
    public void Figures_no_kernel_takes_must_be_refused_by_name(long? memory, long? quota, ulong? period, ulong? shares, string name)
    {
        var e = Assert.Throws<ArgumentException>(() => ContainerLimits.None.With(Resources(memory, quota, period, shares)));
        Assert.Contains(name, e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(1024UL, 0)]
    [InlineData(2048UL, -3)]
    [InlineData(512UL, 3)]
    [InlineData(2UL, 19)]
    [InlineData(262_144UL, -20)]
    public void Shares_must_map_to_the_nice_value_of_about_the_same_weight(ulong shares, int nice) =>
        Assert.Equal(nice, ThreadNice.NiceForShares(shares));

    [Fact]
    public void The_sandbox_cgroup_must_follow_the_cgroups_path_with_the_memory_limit_plus_overhead()
    {
        var config = new ShimConfig { SandboxMemoryOverheadMb = 100, SystemdAddress = "unix:path=/x" };
        var fs = SandboxCgroupPlan.For(Spec("/ns/c1", Resources(1 << 20, 20_000, shares: 512)), config)!;
        Assert.Equal(("cgroupfs", "/ns/c1", ""), (fs.Driver, fs.Path, fs.SystemdAddress));
        Assert.Equal(new CgroupLimits { MemoryMaxBytes = (1 << 20) + (100L << 20), CpuShares = 512 }, fs.Limits);

        var systemd = SandboxCgroupPlan.For(Spec("system.slice:wasmkata:c1", null), config)!;
        Assert.Equal(("systemd", "system.slice:wasmkata:c1", "unix:path=/x"), (systemd.Driver, systemd.Path, systemd.SystemdAddress));
        Assert.True(systemd.Limits.IsEmpty);

        Assert.Null(SandboxCgroupPlan.For(Spec(null, null), config));
        Assert.Null(SandboxCgroupPlan.For(Spec("", null), config));
        Assert.Contains("slice:prefix:name", Assert.Throws<ArgumentException>(() => SandboxCgroupPlan.For(Spec("/ns/c1", null), config with { CgroupDriver = "systemd" })).Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => SandboxCgroupPlan.For(Spec("a:b", null), config));
        Assert.Throws<ArgumentException>(() => SandboxCgroupPlan.For(Spec("/ns/../x", null), config));
    }

    private static OciSpec Spec(string? cgroupsPath, OciResources? resources) => new() { Linux = new OciLinux { CgroupsPath = cgroupsPath, Resources = resources } };
}
