using System.Diagnostics;
using System.Globalization;
using WasmKata.Linux.Idmap;
using WasmKata.Linux.Mounts;
using Xunit;
using Xunit.Abstractions;

namespace WasmKata.Specs.Linux.Idmap;

/// <summary>
/// What an idmapped rootfs costs a sandbox, printed for docs/guest-host.md:
/// <c>dotnet test Specs/WasmKata.Specs.csproj -c Release --no-build --filter FullyQualifiedName~IdmapCostSpec --logger "console;verbosity=detailed"</c>.
/// The bounds are loose (a loaded 2-core machine); they catch a step that turned into a wait.
/// </summary>
[Trait("Requires", "root")]
public sealed class IdmapCostSpec(ITestOutputHelper output) : IDisposable
{
    private const int Rounds = 41;
    private static readonly IdRange Range = new(0, 3_300_000_000, IdRange.SandboxSize);

    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Making_the_namespace_and_the_mounts_must_cost_milliseconds()
    {
        var lowers = Enumerable.Range(0, 10).Select(i => _dir.CreateSub($"layer{i}")).ToList();
        var snapshot = _dir.CreateSub("snapshot");
        var rootfs = _dir.CreateSub("rootfs");
        var userns = new List<double>();
        var overlay1 = new List<double>();
        var overlay10 = new List<double>();
        var bind = new List<double>();
        for (var round = 0; round < Rounds; round++)
        {
            var clock = Stopwatch.StartNew();
            using var ns = IdmapUserNamespace.Create(Range);
            userns.Add(clock.Elapsed.TotalMilliseconds);

            overlay1.Add(Timed(() => IdmappedRootfs.Mount([Overlay(lowers.Take(1), snapshot, round, "a")], rootfs, ns), rootfs));
            overlay10.Add(Timed(() => IdmappedRootfs.Mount([Overlay(lowers, snapshot, round, "b")], rootfs, ns), rootfs));
            bind.Add(Timed(() => IdmappedRootfs.Mount([new MountSpec("bind", lowers[0], "", ["rbind"])], rootfs, ns), rootfs));
        }

        Report("user namespace (spawn, maps, open ns, reap)", userns);
        Report("idmapped overlay, 1 lower layer", overlay1);
        Report("idmapped overlay, 10 lower layers", overlay10);
        Report("idmapped rbind of a directory", bind);
        Assert.True(Median(userns) < 250, $"user namespace median {Median(userns)} ms");
        Assert.True(Median(overlay10) < 250, $"overlay median {Median(overlay10)} ms");
    }

    [Fact]
    public void Allocating_a_range_among_a_hundred_held_ones_must_cost_milliseconds()
    {
        var allocator = new IdRangeAllocator(Range.HostBase, 1024, _dir.Sub("uids"));
        for (var i = 0; i < 100; i++)
            allocator.Allocate($"held-{i}");

        var times = new List<double>();
        for (var round = 0; round < Rounds; round++)
        {
            var clock = Stopwatch.StartNew();
            allocator.Allocate("timed");
            allocator.Release("timed");
            times.Add(clock.Elapsed.TotalMilliseconds);
        }

        Report("allocate + release with 100 slots held", times);
        Assert.True(Median(times) < 250, $"allocation median {Median(times)} ms");
    }

    private static double Timed(Action mount, string target)
    {
        var clock = Stopwatch.StartNew();
        mount();
        var elapsed = clock.Elapsed.TotalMilliseconds;
        Assert.True(Mounts.IsMountPoint(target));
        Mounts.UnmountAll(target);
        return elapsed;
    }

    private MountSpec Overlay(IEnumerable<string> lowers, string snapshot, int round, string name)
    {
        var upper = Directory.CreateDirectory(Path.Combine(snapshot, $"{name}{round}", "fs")).FullName;
        var work = Directory.CreateDirectory(Path.Combine(snapshot, $"{name}{round}", "work")).FullName;
        return new MountSpec("overlay", "overlay", "", [$"lowerdir={string.Join(':', lowers)}", $"upperdir={upper}", $"workdir={work}", "index=off"]);
    }

    private void Report(string what, List<double> times) => output.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"{what}: median {Median(times):0.00} ms, min {times.Min():0.00}, max {times.Max():0.00} ({times.Count} rounds)"));

    private static double Median(List<double> times) => times.Order().ElementAt(times.Count / 2);
}
