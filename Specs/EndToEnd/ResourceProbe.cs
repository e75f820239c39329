using System.Globalization;
using Xunit;

namespace WasmKata.Specs.EndToEnd;

/// <summary>What end-to-end resource specs read from outside: `ctr task metrics`, a shim's CPU time and cgroups.</summary>
public static class ResourceProbe
{
    /// <summary>The METRIC/VALUE rows of `ctr task metrics ID` (table format).</summary>
    public static async Task<IReadOnlyDictionary<string, string>> MetricsAsync(Ctr ctr, string id)
    {
        var metrics = await ctr.RunAsync("task", "metrics", id);
        Assert.True(metrics.ExitCode == 0, ctr.Explain(metrics));
        return metrics.StdoutText.Split('\n')
            .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(cells => cells.Length == 2 && cells[0].Contains('.', StringComparison.Ordinal))
            .ToDictionary(cells => cells[0], cells => cells[1]);
    }

    /// <summary>Polls the metrics of ID until <paramref name="done"/> holds; fails with the last ones otherwise.</summary>
    public static async Task<IReadOnlyDictionary<string, string>> MetricsUntilAsync(
        Ctr ctr, string id, Func<IReadOnlyDictionary<string, string>, bool> done, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var metrics = await MetricsAsync(ctr, id);
            if (done(metrics))
                return metrics;
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"metrics of {id} never matched within {timeout.TotalSeconds:F0} s; last:\n" +
                            string.Join('\n', metrics.Select(m => $"{m.Key} {m.Value}")));
            }

            await Task.Delay(100);
        }
    }

    /// <summary>
    /// A runtime path (containerd takes an absolute path to a shim binary) for the shim without its inspection node,
    /// whose cluster gossip with every other shim on the host would blur a measurement of this one's CPU.
    /// </summary>
    public static string QuietShim(ContainerdFixture fixture)
    {
        var dir = Directory.CreateDirectory(Path.Combine(fixture.RunDir, "quiet-shim")).FullName;
        var wrapper = Path.Combine(dir, ContainerdFixture.ShimBinary);
        File.WriteAllText(wrapper, $"#!/bin/sh\nexport WASMKATA_INSPECT=off\nexec {Path.Combine(fixture.ShimDir, ContainerdFixture.ShimBinary)} \"$@\"\n");
        File.SetUnixFileMode(wrapper, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return wrapper;
    }

    /// <summary>The pid `ctr task ls` shows for ID: the guest's thread id, or its guest host's pid (guest_isolation = "process").</summary>
    public static async Task<int> TaskPidAsync(Ctr ctr, string id)
    {
        var ls = await ctr.RunAsync("task", "ls");
        var row = ls.StdoutText.Split('\n').Select(l => l.Split(' ', '\t').Where(c => c.Length > 0).ToArray())
            .FirstOrDefault(r => r.Length >= 2 && r[0] == id);
        Assert.True(row is not null, ctr.Explain(ls));
        return int.Parse(row![1], CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// The shim daemon serving task ID, in either isolation mode. With guest_isolation = "thread" the task's pid is its
    /// guest's thread, whose thread group is the daemon; with "process" it is the guest's guest host, a child of the
    /// daemon. Fails if the task's pid is not what its mode makes it.
    /// </summary>
    public static async Task<int> ShimPidAsync(Ctr ctr, string id)
    {
        var task = await TaskPidAsync(ctr, id);
        if (!GuestIsolation.IsProcess)
            return GuestIsolation.StatusField(task, "Tgid");
        Assert.True(GuestIsolation.IsGuestHost(task),
            $"the pid of task {id}, {task}, is not a guest host: {string.Join(' ', GuestIsolation.Argv(task))}");
        return GuestIsolation.StatusField(task, "PPid");
    }

    /// <summary>User plus system CPU time of process <paramref name="pid"/> (all its threads), from /proc.</summary>
    public static TimeSpan CpuTime(int pid) => CpuTimeOf($"/proc/{pid}/stat");

    /// <summary>User plus system CPU time of thread <paramref name="tid"/> of process <paramref name="pid"/>.</summary>
    public static TimeSpan ThreadCpuTime(int pid, int tid) => CpuTimeOf($"/proc/{pid}/task/{tid}/stat");

    private static TimeSpan CpuTimeOf(string path)
    {
        var stat = File.ReadAllText(path);
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after "pid (comm) ".
        var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
        return TimeSpan.FromSeconds(ticks / 100.0);
    }
}
