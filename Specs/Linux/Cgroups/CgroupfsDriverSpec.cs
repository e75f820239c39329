using System.Diagnostics;
using System.Globalization;
using WasmKata.Linux.Cgroups;
using Xunit;

namespace WasmKata.Specs.Linux.Cgroups;

/// <summary>The cgroupfs driver against this machine's real hierarchies (v1 with a v2 "unified" mount here).</summary>
[Trait("Requires", "root")]
public sealed class CgroupfsDriverSpec : IDisposable
{
    private static readonly CgroupLimits Limits = new()
    {
        MemoryMaxBytes = 64 << 20,
        CpuQuotaUs = 20_000,
        CpuPeriodUs = 100_000,
        CpuShares = 512,
        PidsMax = 50,
    };

    private readonly Process _child = Process.Start(new ProcessStartInfo("sleep", "600") { UseShellExecute = false })!;
    private readonly string _name = "wk-spec-" + Guid.NewGuid().ToString("N")[..10];

    [Fact]
    public async Task V1_create_must_put_the_process_in_every_controller_with_its_limits()
    {
        var mounts = CgroupMounts.Read();
        if (mounts.Mode != CgroupVersion.V1)
            return;
        var driver = new CgroupfsDriver(mounts);
        var before = CgroupMembership.Read(_child.Id);

        var cgroup = await driver.CreateAsync(CgroupsPath.Parse(_name), _child.Id, Limits);
        var self = CgroupMembership.Read();
        var now = CgroupMembership.Read(_child.Id);
        foreach (var controller in new[] { "memory", "cpu", "cpuacct", "pids" })
        {
            var hierarchy = mounts.V1(controller)!;
            Assert.Equal(self.In(hierarchy)!.TrimEnd('/') + "/" + _name, now.In(hierarchy));
        }

        Assert.Equal("67108864", Read(mounts, "memory", "memory.limit_in_bytes"));
        Assert.Equal("20000", Read(mounts, "cpu", "cpu.cfs_quota_us"));
        Assert.Equal("100000", Read(mounts, "cpu", "cpu.cfs_period_us"));
        Assert.Equal("512", Read(mounts, "cpu", "cpu.shares"));
        Assert.Equal("50", Read(mounts, "pids", "pids.max"));

        var stats = await cgroup.ReadStatsAsync();
        Assert.Equal(64L << 20, stats.MemoryLimitBytes);
        Assert.NotNull(stats.MemoryUsageBytes);
        Assert.NotNull(stats.CpuUsageNs);
        Assert.Equal(1, stats.Pids);

        await cgroup.UpdateAsync(new CgroupLimits { MemoryMaxBytes = 32 << 20, PidsMax = -1, CpuQuotaUs = -1 });
        Assert.Equal("33554432", Read(mounts, "memory", "memory.limit_in_bytes"));
        Assert.Equal("max", Read(mounts, "pids", "pids.max"));
        Assert.Equal("-1", Read(mounts, "cpu", "cpu.cfs_quota_us"));
        Assert.Equal("512", Read(mounts, "cpu", "cpu.shares"));

        await cgroup.RemoveAsync();
        Assert.All(Directories(mounts), d => Assert.False(Directory.Exists(d), d));
        Assert.Equal(before.In(mounts.V1("memory")!), CgroupMembership.Read(_child.Id).In(mounts.V1("memory")!));
        Assert.Equal(before.In(mounts.V1("pids")!), CgroupMembership.Read(_child.Id).In(mounts.V1("pids")!));
        await cgroup.RemoveAsync();
    }

    [Fact]
    public async Task A_refused_limit_must_leave_nothing_behind()
    {
        var mounts = CgroupMounts.Read();
        var driver = new CgroupfsDriver(mounts);
        var before = File.ReadAllText($"/proc/{_child.Id}/cgroup");

        // The kernel refuses a cfs quota under 1 ms.
        var failure = await Assert.ThrowsAsync<CgroupException>(() => driver.CreateAsync(CgroupsPath.Parse(_name), _child.Id, new CgroupLimits { CpuQuotaUs = 500 }));
        Assert.Contains(_name, failure.Message, StringComparison.Ordinal);
        Assert.Equal(22, failure.Errno);
        Assert.All(Directories(mounts), d => Assert.False(Directory.Exists(d), d));
        Assert.Equal(before, File.ReadAllText($"/proc/{_child.Id}/cgroup"));
    }

    [Fact]
    public async Task Remove_by_path_must_move_the_processes_out_and_be_idempotent()
    {
        var mounts = CgroupMounts.Read();
        var driver = new CgroupfsDriver(mounts);
        var path = CgroupsPath.Parse(_name + "/nested");
        await driver.CreateAsync(path, _child.Id, CgroupLimits.None);
        Assert.Contains("/" + _name + "/nested", File.ReadAllText($"/proc/{_child.Id}/cgroup"), StringComparison.Ordinal);

        await driver.RemoveAsync(path);
        await driver.RemoveAsync(CgroupsPath.Parse(_name));
        await driver.RemoveAsync(CgroupsPath.Parse(_name));
        Assert.All(Directories(mounts), d => Assert.False(Directory.Exists(d), d));
        Assert.DoesNotContain(_name, File.ReadAllText($"/proc/{_child.Id}/cgroup"), StringComparison.Ordinal);
        Assert.False(_child.HasExited);
    }

    [Fact]
    public async Task This_process_must_go_in_and_come_back_out_on_remove()
    {
        var mounts = CgroupMounts.Read();
        var driver = new CgroupfsDriver(mounts);
        var before = File.ReadAllText("/proc/self/cgroup");

        var cgroup = await driver.CreateAsync(CgroupsPath.Parse(_name), Environment.ProcessId, CgroupLimits.None);
        var inside = File.ReadAllText("/proc/self/cgroup");
        Assert.True((await cgroup.ReadStatsAsync()).Pids > 5, "all threads of this process are in it");
        await cgroup.RemoveAsync();

        Assert.Contains("/" + _name, inside, StringComparison.Ordinal);
        Assert.Equal(before, File.ReadAllText("/proc/self/cgroup"));
    }

    [Fact]
    public async Task V2_on_the_unified_hierarchy_must_move_the_process_count_its_cpu_and_name_missing_controllers()
    {
        var mounts = CgroupMounts.Read();
        if (mounts.Unified is not { } unified)
            return;
        var driver = new CgroupfsDriver(mounts, CgroupVersion.V2);
        var before = CgroupMembership.Read(_child.Id).In(unified);
        var available = File.ReadAllText(Path.Combine(unified.Directory(CgroupMembership.Read().In(unified)!), "cgroup.controllers"));

        var cgroup = await driver.CreateAsync(CgroupsPath.Parse(_name), _child.Id, CgroupLimits.None);
        Assert.EndsWith("/" + _name, CgroupMembership.Read(_child.Id).In(unified), StringComparison.Ordinal);
        var stats = await cgroup.ReadStatsAsync();
        Assert.NotNull(stats.CpuUsageNs);
        if (!available.Contains("memory", StringComparison.Ordinal))
        {
            // A hybrid host keeps memory on v1: the v2 file does not exist and the error says so.
            Assert.Null(stats.MemoryUsageBytes);
            var failure = await Assert.ThrowsAsync<CgroupException>(() => cgroup.UpdateAsync(new CgroupLimits { MemoryMaxBytes = 1 << 30 }));
            Assert.Contains("memory.max", failure.Message, StringComparison.Ordinal);
        }

        await cgroup.RemoveAsync();
        Assert.Equal(before, CgroupMembership.Read(_child.Id).In(unified));
        Assert.False(Directory.Exists(unified.Directory(CgroupMembership.Read().In(unified)!.TrimEnd('/') + "/" + _name)));
    }

    [Fact]
    public async Task V2_limits_must_be_written_in_v2_formats()
    {
        // A stand-in hierarchy on tmpfs whose files exist up front, as cgroupfs creates them.
        using var root = new TempDirectory();
        var sandbox = root.CreateSub(_name);
        File.WriteAllText(root.Sub("cgroup.controllers"), "cpuset cpu io memory pids\n");
        File.WriteAllText(root.Sub("cgroup.subtree_control"), "");
        foreach (var file in new[] { "cgroup.procs", "memory.max", "cpu.max", "cpu.weight", "pids.max" })
            File.WriteAllText(Path.Combine(sandbox, file), "");
        var mounts = CgroupMounts.Parse($"41 31 0:38 / {root.Path} rw - cgroup2 cgroup2 rw\n");
        var driver = new CgroupfsDriver(mounts, CgroupVersion.V2);

        var cgroup = await driver.CreateAsync(CgroupsPath.Parse("/" + _name), _child.Id, Limits);
        Assert.Equal("+cpu +memory +pids", File.ReadAllText(root.Sub("cgroup.subtree_control")));
        Assert.Equal("67108864", File.ReadAllText(Path.Combine(sandbox, "memory.max")));
        Assert.Equal("20000 100000", File.ReadAllText(Path.Combine(sandbox, "cpu.max")));
        Assert.Equal(CgroupValues.SharesToWeight(512).ToString(CultureInfo.InvariantCulture), File.ReadAllText(Path.Combine(sandbox, "cpu.weight")));
        Assert.Equal("50", File.ReadAllText(Path.Combine(sandbox, "pids.max")));
        Assert.Equal(_child.Id.ToString(CultureInfo.InvariantCulture), File.ReadAllText(Path.Combine(sandbox, "cgroup.procs")));

        await cgroup.UpdateAsync(new CgroupLimits { MemoryMaxBytes = -1, CpuPeriodUs = 50_000, PidsMax = -1 });
        Assert.Equal("max", File.ReadAllText(Path.Combine(sandbox, "memory.max")));
        Assert.Equal("20000 50000", File.ReadAllText(Path.Combine(sandbox, "cpu.max")));
        Assert.Equal("max", File.ReadAllText(Path.Combine(sandbox, "pids.max")));
    }

    public void Dispose()
    {
        // Best effort, should a spec have failed half-way: nothing of ours may stay in the host's hierarchies.
        var mounts = CgroupMounts.Read();
        foreach (var directory in Directories(mounts).Concat(mounts.Unified is { } u ? [Under(u, _name)] : []))
        {
            if (Directory.Exists(directory))
            {
                foreach (var sub in Directory.GetDirectories(directory, "*", SearchOption.AllDirectories).Reverse())
                    TryRemove(sub);
                TryRemove(directory);
            }
        }

        _child.Kill();
        _child.WaitForExit();
        _child.Dispose();
    }

    private static void TryRemove(string directory)
    {
        try
        {
            foreach (var pid in File.ReadAllLines(Path.Combine(directory, "cgroup.procs")))
                File.WriteAllText(Path.Combine(Path.GetDirectoryName(directory)!, "cgroup.procs"), pid);
            Directory.Delete(directory);
        }
        catch (IOException)
        {
        }
    }

    private IEnumerable<string> Directories(CgroupMounts mounts) =>
        new[] { "memory", "cpu", "cpuacct", "pids" }.Select(mounts.V1).OfType<CgroupHierarchy>().Select(h => Under(h, _name)).Distinct();

    private static string Under(CgroupHierarchy hierarchy, string name) =>
        hierarchy.Directory((CgroupMembership.Read().In(hierarchy) ?? "/").TrimEnd('/') + "/" + name);

    private string Read(CgroupMounts mounts, string controller, string file) =>
        File.ReadAllText(Path.Combine(Under(mounts.V1(controller)!, _name), file)).Trim();
}
