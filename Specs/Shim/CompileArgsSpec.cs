using WasmKata.Shim.Actions;
using Xunit;

namespace WasmKata.Specs.Shim;

/// <summary>The compile action's flags: what the daemon passes comes back as the same engine settings; bad ones are named.</summary>
public sealed class CompileArgsSpec
{
    private static readonly string[] Valid =
    [
        "--name", "yosys.wasm", "--cache-dir", "/var/cache/x", "--cache-max-bytes", "1073741824", "--pooling", "true",
        "--pooling-instances", "100", "--pooling-max-memory", "65536", "--limit-seconds", "600",
    ];

    [Fact]
    public void Parse_must_give_the_daemon_s_engine_and_cache_settings()
    {
        var parsed = CompileArgs.Parse(Valid);

        Assert.Equal("yosys.wasm", parsed.Name);
        Assert.Equal("/var/cache/x", parsed.Options.ModuleCacheDirectory);
        Assert.Equal(1L << 30, parsed.Options.ModuleCacheMaxBytes);
        Assert.True(parsed.Options.PoolingAllocator);
        Assert.Equal(100, parsed.Options.PoolingMaxInstances);
        Assert.Equal(65536, parsed.Options.PoolingMaxMemoryBytes);
        Assert.Equal(TimeSpan.FromMinutes(10), parsed.Limit);
    }

    [Theory]
    [InlineData("--cache-dir", "--cache-dir is missing")]
    [InlineData("--limit-seconds", "--limit-seconds is missing")]
    public void A_missing_flag_must_be_named(string flag, string message)
    {
        var args = Valid.ToList();
        args.RemoveRange(args.IndexOf(flag), 2);

        Assert.Equal(message, Assert.Throws<FormatException>(() => CompileArgs.Parse(args)).Message);
    }

    [Fact]
    public void A_bad_number_or_a_flag_without_value_must_be_refused_clearly()
    {
        var bad = Valid.ToArray();
        bad[Array.IndexOf(bad, "--limit-seconds") + 1] = "-5";
        Assert.Equal("--limit-seconds must be a positive number, not \"-5\"", Assert.Throws<FormatException>(() => CompileArgs.Parse(bad)).Message);
        Assert.Equal("expected --flag value pairs, got \"--name\"", Assert.Throws<FormatException>(() => CompileArgs.Parse(["--name"])).Message);
    }
}
