using System.Diagnostics;
using WasmKata.Core.Plan;
using WasmKata.Engine;
using Xunit;
using Xunit.Abstractions;

namespace WasmKata.Specs.Engine;

/// <summary>The compiled hostile guests (out/guests) straight on the engine: the fast half of HostileGuestSpec.</summary>
[Trait("Runtime", "wasmkata")]
public sealed class HostileGuestEngineSpec(EngineFixture fx, ITestOutputHelper output) : IClassFixture<EngineFixture>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public void Unbounded_growth_under_a_64_MiB_limit_must_be_refused_at_the_limit_and_the_abort_must_be_134()
    {
        var (exit, stdout, stderr) = Run("hostile", ["grow"], 64L << 20);

        Assert.Equal(134, exit.Status);
        Assert.Matches(@"grow: refused after (3\d|4\d|5\d|6\d) MiB", stderr);
        Assert.Equal("", stdout);
    }

    [Theory]
    [InlineData("oob", "out of bounds\n")]
    [InlineData("recurse", "recursing\n")]
    public void Traps_must_be_134_with_the_output_before_them(string guest, string says)
    {
        var (exit, stdout, _) = Run(guest, [], null);

        Assert.Equal(134, exit.Status);
        Assert.NotNull(exit.TrapMessage);
        Assert.Equal(says, stdout);
        output.WriteLine($"{guest}: {exit.TrapMessage}");
    }

    [Fact]
    public void Ten_thousand_tiny_writes_a_second_must_all_arrive_in_order()
    {
        const int writes = 50_000;
        var clock = Stopwatch.StartNew();
        var (exit, stdout, stderr) = Run("hostile", ["flood", $"{writes}"], null);
        var elapsed = clock.Elapsed;

        Assert.Equal(0, exit.Status);
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(writes, lines.Length);
        Assert.True(lines.Select((line, i) => int.Parse(line) == i).All(ok => ok), "lines out of order or corrupted");
        output.WriteLine($"{stderr.Trim()} ({writes / elapsed.TotalSeconds:F0} writes/s end to end)");
        Assert.True(writes / elapsed.TotalSeconds > 10_000, $"only {writes / elapsed.TotalSeconds:F0} writes/s");
    }

    private (GuestExit Exit, string Stdout, string Stderr) Run(string guest, string[] args, long? memoryLimit)
    {
        var path = Path.Combine(new EndToEnd.ContainerdFixture().GuestsDir, guest + ".wasm");
        var stdout = new CapturedOutput();
        var stderr = new CapturedOutput();
        var config = new GuestConfig(["/app.wasm", .. args], [], fx.NewRootfs(), false, "/", [], memoryLimit);
        var instance = fx.Engine.CreateGuest(fx.Engine.Load(path), config, new GuestStdio(null, stdout, stderr));
        instance.Instantiate();
        var exit = GuestRunner.Start(instance).Join(Patience);
        return (exit, stdout.Text, stderr.Text);
    }
}
