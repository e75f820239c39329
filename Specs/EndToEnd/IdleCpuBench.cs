using System.Globalization;
using WasmKata.Core.Protos.TaskApi;
using WasmKata.Linux;
using Xunit;
using Xunit.Abstractions;

namespace WasmKata.Specs.EndToEnd;

/// <summary>
/// Not a timed test, a measurement: the CPU time an idle daemon (one guest asleep in poll_oneoff) burns per second of
/// wall time, in all and per thread name, from /proc. Prints the figures and asserts nothing about them. Run the shim
/// of another build with WASMKATA_SHIM_DIR to compare.
/// </summary>
[Collection(EndToEndCollection.Name)]
[Trait("Category", "Bench")]
[Trait("Requires", "root")]
[Trait("Runtime", "wasmkata")]
public sealed class IdleCpuBench(ITestOutputHelper output)
{
    private static readonly TimeSpan Window = TimeSpan.FromSeconds(10);
    private static readonly double TicksPerSecond = 100; // USER_HZ: /proc reports utime and stime in 1/100 s.

    [Fact]
    public async Task An_idle_daemon_with_one_sleeping_guest_prints_its_cpu_ms_per_second()
    {
        await using var shim = await ShimUnderTest.StartAsync(ContainerdFixture.NewId("idle-cpu"));
        var id = shim.Id + "-sleeper";
        await shim.StartSleeperAsync(id);

        // Let start-up work (JIT, the thread pool's ramp-down) settle first.
        await Task.Delay(TimeSpan.FromSeconds(3));
        var before = ThreadTimes(shim.Pid);
        var process = ProcessTicks(shim.Pid);
        await Task.Delay(Window);
        var processMs = (ProcessTicks(shim.Pid) - process) * 1000 / TicksPerSecond / Window.TotalSeconds;
        var after = ThreadTimes(shim.Pid);

        output.WriteLine($"shim {ShimUnderTest.ShimDir}: idle daemon with one sleeping guest: {processMs.ToString("F1", CultureInfo.InvariantCulture)} ms CPU per s");
        output.WriteLine($"  {after.Count} threads: {string.Join(", ", after.Keys.GroupBy(k => k.Name).Select(g => $"{g.Key} x{g.Count()}"))}");
        foreach (var (name, ticks) in after
            .Select(a => (a.Key, a.Value.Ticks - (before.TryGetValue(a.Key, out var b) ? b.Ticks : 0), a.Value.Switches - (before.TryGetValue(a.Key, out var s) ? s.Switches : 0)))
            .GroupBy(t => t.Item1.Name)
            .Select(g => (g.Key, (Ticks: g.Sum(t => t.Item2), Switches: g.Sum(t => t.Item3))))
            .Where(t => t.Item2.Ticks > 0 || t.Item2.Switches > 0)
            .OrderByDescending(t => t.Item2.Ticks))
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {name,-24} {ticks.Ticks * 1000 / TicksPerSecond / Window.TotalSeconds,6:F1} ms/s  {ticks.Switches / Window.TotalSeconds,7:F1} switches/s"));
        }

        await shim.CallAsync<KillRequest, Google.Protobuf.WellKnownTypes.Empty>("Kill", new KillRequest { Id = id, Signal = 9 });
        await shim.CallAsync<WaitRequest, WaitResponse>("Wait", new WaitRequest { Id = id });
        await shim.CallAsync<DeleteRequest, DeleteResponse>("Delete", new DeleteRequest { Id = id });
    }

    private static long ProcessTicks(int pid) => StatTicks(File.ReadAllText($"/proc/{pid}/stat"));

    private static long StatTicks(string stat) =>
        ProcStat.TryParse(stat, out var parsed) ? parsed.UserTicks + parsed.SystemTicks : throw new FormatException($"not a stat line: {stat}");

    private static Dictionary<(int Tid, string Name), (long Ticks, long Switches)> ThreadTimes(int pid)
    {
        var result = new Dictionary<(int, string), (long, long)>();
        foreach (var dir in Directory.EnumerateDirectories($"/proc/{pid}/task"))
        {
            try
            {
                var tid = int.Parse(Path.GetFileName(dir), CultureInfo.InvariantCulture);
                var name = File.ReadAllText(Path.Combine(dir, "comm")).Trim();
                var status = File.ReadAllLines(Path.Combine(dir, "status"));
                var switches = status.Where(l => l.Contains("ctxt_switches:", StringComparison.Ordinal))
                    .Sum(l => long.Parse(l.Split(':')[1].Trim(), CultureInfo.InvariantCulture));
                result[(tid, name)] = (StatTicks(File.ReadAllText(Path.Combine(dir, "stat"))), switches);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // The thread ended meanwhile.
            }
        }
        return result;
    }
}
