using WasmKata.Linux.Cgroups;
using Xunit;

namespace WasmKata.Specs.Linux.Cgroups;

public sealed class CgroupValuesSpec
{
    [Theory]
    [InlineData(0UL, 0UL)]
    [InlineData(1UL, 1UL)]
    [InlineData(2UL, 1UL)]
    [InlineData(1024UL, 100UL)]
    [InlineData(262144UL, 10000UL)]
    [InlineData(1_000_000UL, 10000UL)]
    public void Shares_must_map_to_weights_with_runcs_fixed_points(ulong shares, ulong weight)
    {
        Assert.Equal(weight, CgroupValues.SharesToWeight(shares));
    }

    [Fact]
    public void The_share_to_weight_mapping_must_be_monotonic_and_in_range()
    {
        ulong previous = 1;
        for (ulong shares = 2; shares <= 262144; shares += 97)
        {
            var weight = CgroupValues.SharesToWeight(shares);
            Assert.InRange(weight, previous, 10000UL);
            previous = weight;
        }

        Assert.InRange(CgroupValues.SharesToWeight(512), 30UL, 70UL);
        Assert.InRange(CgroupValues.SharesToWeight(2048), 150UL, 300UL);
    }

    [Theory]
    [InlineData(20000L, 100000UL, "20000 100000")]
    [InlineData(-1L, 100000UL, "max 100000")]
    [InlineData(50000L, null, "50000")]
    public void Cpu_max_must_be_quota_then_period(long quota, ulong? period, string expected)
    {
        Assert.Equal(expected, CgroupValues.CpuMax(quota, period));
    }

    [Theory]
    [InlineData(20000L, 100000UL, 200000UL)]
    [InlineData(12345L, 100000UL, 130000UL)]
    [InlineData(50000L, null, 500000UL)]
    [InlineData(150000L, 100000UL, 1500000UL)]
    [InlineData(-1L, 100000UL, ulong.MaxValue)]
    public void Systemd_quota_must_be_per_second_rounded_up_to_10_ms(long quota, ulong? period, ulong expected)
    {
        Assert.Equal(expected, CgroupValues.SystemdQuotaPerSecUs(quota, period));
    }

    [Theory]
    [InlineData("max\n", null)]
    [InlineData("9223372036854771712\n", null)]
    [InlineData("67108864\n", 67108864L)]
    public void Limits_must_parse_with_unlimited_as_null(string text, long? expected)
    {
        Assert.Equal(expected, CgroupValues.ParseLimit(text));
    }

    [Fact]
    public void Cpu_stat_usage_must_be_read_in_ns()
    {
        Assert.Equal(1_234_000L, CgroupValues.CpuStatUsageNs("usage_usec 1234\nuser_usec 1000\nsystem_usec 234\n"));
        Assert.Null(CgroupValues.CpuStatUsageNs("user_usec 1\n"));
    }
}
