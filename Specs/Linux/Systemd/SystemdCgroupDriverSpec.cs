using System.Diagnostics;
using WasmKata.Linux.Cgroups;
using WasmKata.Linux.Systemd;
using Xunit;
using Xunit.Abstractions;

namespace WasmKata.Specs.Linux.Systemd;

/// <summary>The systemd cgroup driver against a real systemd booted for the specs (see <see cref="SystemdFixture"/>).</summary>
[Trait("Requires", "root")]
[Collection(SystemdCollection.Name)]
public sealed class SystemdCgroupDriverSpec
{
    private static readonly CgroupLimits Limits = new()
    {
        MemoryMaxBytes = 64 << 20,
        CpuQuotaUs = 20_000,
        CpuPeriodUs = 100_000,
        CpuShares = 2048,
        PidsMax = 40,
    };

    private readonly SystemdFixture _systemd;
    private readonly ITestOutputHelper _output;

    public SystemdCgroupDriverSpec(SystemdFixture systemd, ITestOutputHelper output)
    {
        _systemd = systemd;
        _output = output;
    }

    [Fact]
    public async Task A_scope_must_hold_the_process_with_its_limits_take_updates_and_be_gone_after_remove()
    {
        _output.WriteLine($"systemd booted in {_systemd.BootTime.TotalMilliseconds:0} ms");
        using var driver = await SystemdCgroupDriver.ConnectAsync([_systemd.PrivateAddress]);
        Assert.False(driver.Manager.ThroughBus);
        var (pid, process) = await _systemd.StartInside("sleep", "600");
        using var _ = process;
        var path = (SystemdCgroupsPath)CgroupsPath.Parse("system.slice:wasmkata:spec-" + Guid.NewGuid().ToString("N")[..8]);

        var clock = Stopwatch.StartNew();
        var cgroup = await driver.CreateAsync(path, pid, Limits);
        _output.WriteLine($"created {path.UnitName} in {clock.ElapsedMilliseconds} ms");

        // Checked through systemd's own API: the unit, its settings and its process.
        var manager = driver.Manager;
        var unit = await manager.GetUnitAsync(path.UnitName);
        Assert.NotNull(unit);
        var state = await manager.GetAllPropertiesAsync(unit!, "org.freedesktop.systemd1.Unit");
        Assert.Equal("active", state["ActiveState"].GetString());
        var scope = await manager.GetAllPropertiesAsync(unit!, "org.freedesktop.systemd1.Scope");
        Assert.Equal("system.slice", scope["Slice"].GetString());
        Assert.True(scope["Delegate"].GetBool());
        Assert.Equal(64UL << 20, scope["MemoryMax"].GetUInt64());
        Assert.Equal(200_000UL, scope["CPUQuotaPerSecUSec"].GetUInt64());
        Assert.Equal(CgroupValues.SharesToWeight(2048), scope["CPUWeight"].GetUInt64());
        Assert.Equal(40UL, scope["TasksMax"].GetUInt64());
        var controlGroup = scope["ControlGroup"].GetString();
        Assert.Equal("/system.slice/" + path.UnitName, controlGroup);
        var processes = await manager.GetUnitProcessesAsync(path.UnitName);
        Assert.Equal(pid, Assert.Single(processes).Pid);
        Assert.Contains("sleep 600", processes[0].CommandLine, StringComparison.Ordinal);

        // And in the kernel: the process's cgroups and the limit files systemd wrote.
        var cgroups = File.ReadAllText(_systemd.Inside($"/proc/{pid}/cgroup"));
        Assert.Contains(controlGroup + "\n", cgroups, StringComparison.Ordinal);
        var memoryDir = _systemd.CgroupRoot("memory") + controlGroup;
        Assert.Equal((64L << 20).ToString(System.Globalization.CultureInfo.InvariantCulture), File.ReadAllText(Path.Combine(memoryDir, "memory.limit_in_bytes")).Trim());
        Assert.Equal("20000", File.ReadAllText(Path.Combine(_systemd.CgroupRoot("cpu") + controlGroup, "cpu.cfs_quota_us")).Trim());

        var stats = await cgroup.ReadStatsAsync();
        Assert.Equal(64L << 20, stats.MemoryLimitBytes);
        Assert.Equal(1, stats.Pids);
        Assert.NotNull(stats.MemoryUsageBytes);
        // systemd counts CPU on v1 only where cpuacct shares a hierarchy with cpu (as systemd mounts them); this host
        // mounts them apart, and systemd then reports CPUUsageNSec as not set.
        var mounts = CgroupMounts.Read();
        if (mounts.Mode == CgroupVersion.V2 || mounts.V1("cpu")?.MountPoint == mounts.V1("cpuacct")?.MountPoint)
            Assert.NotNull(stats.CpuUsageNs);

        await cgroup.UpdateAsync(new CgroupLimits { MemoryMaxBytes = 32 << 20, PidsMax = -1 });
        scope = await manager.GetAllPropertiesAsync(unit!, "org.freedesktop.systemd1.Scope");
        Assert.Equal(32UL << 20, scope["MemoryMax"].GetUInt64());
        Assert.Equal(ulong.MaxValue, scope["TasksMax"].GetUInt64());
        Assert.Equal(200_000UL, scope["CPUQuotaPerSecUSec"].GetUInt64());
        Assert.Equal((32L << 20).ToString(System.Globalization.CultureInfo.InvariantCulture), File.ReadAllText(Path.Combine(memoryDir, "memory.limit_in_bytes")).Trim());

        await cgroup.RemoveAsync();
        Assert.Null(await manager.GetUnitAsync(path.UnitName));
        Assert.False(Directory.Exists(memoryDir));
        // Stopping the scope ended its process.
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        await cgroup.RemoveAsync();
    }

    [Fact]
    public async Task The_system_bus_must_work_as_well_as_the_private_socket()
    {
        using var driver = await SystemdCgroupDriver.ConnectAsync([_systemd.SystemBusAddress]);
        Assert.True(driver.Manager.ThroughBus);
        var (pid, process) = await _systemd.StartInside("sleep", "600");
        using var _ = process;
        var path = (SystemdCgroupsPath)CgroupsPath.Parse(":wasmkata-bus:spec-" + Guid.NewGuid().ToString("N")[..8]);

        var cgroup = await driver.CreateAsync(path, pid, new CgroupLimits { MemoryMaxBytes = 16 << 20 });
        var processes = await driver.Manager.GetUnitProcessesAsync(path.UnitName);
        Assert.Equal(pid, Assert.Single(processes).Pid);
        Assert.Equal(16L << 20, (await cgroup.ReadStatsAsync()).MemoryLimitBytes);

        await driver.RemoveAsync(path);
        Assert.Null(await driver.Manager.GetUnitAsync(path.UnitName));
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task A_second_scope_of_the_same_name_must_be_refused_and_leave_the_first_alone()
    {
        using var driver = await SystemdCgroupDriver.ConnectAsync([_systemd.PrivateAddress]);
        var (pid, process) = await _systemd.StartInside("sleep", "600");
        var (other, otherProcess) = await _systemd.StartInside("sleep", "601");
        using var _ = process;
        using var __ = otherProcess;
        var path = CgroupsPath.Parse("system.slice:wasmkata:twice-" + Guid.NewGuid().ToString("N")[..8]);

        var first = await driver.CreateAsync(path, pid, CgroupLimits.None);
        var failure = await Assert.ThrowsAsync<CgroupException>(() => driver.CreateAsync(path, other, CgroupLimits.None));
        Assert.Contains("UnitExists", failure.Message, StringComparison.Ordinal);
        var processes = await driver.Manager.GetUnitProcessesAsync(((SystemdCgroupsPath)path).UnitName);
        Assert.Equal(pid, Assert.Single(processes).Pid);

        await first.RemoveAsync();
        otherProcess.Kill();
    }

    [Fact]
    public async Task Removing_a_scope_that_does_not_exist_must_succeed()
    {
        using var driver = await SystemdCgroupDriver.ConnectAsync([_systemd.PrivateAddress]);
        await driver.RemoveAsync(CgroupsPath.Parse("system.slice:wasmkata:never-" + Guid.NewGuid().ToString("N")[..8]));
    }

    [Fact]
    public async Task Unreachable_systemd_must_be_reported_with_every_address_tried()
    {
        var failure = await Assert.ThrowsAsync<SystemdException>(() => SystemdManager.ConnectAsync(["unix:path=/nonexistent/a", "unix:path=/nonexistent/b"]));
        Assert.Contains("/nonexistent/a", failure.Message, StringComparison.Ordinal);
        Assert.Contains("/nonexistent/b", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Invalid_unit_names_must_be_refused_before_asking_systemd()
    {
        SystemdCgroupDriver.ValidateUnitName("wasmkata-abc_1.scope", ".scope");
        Assert.Throws<ArgumentException>(() => SystemdCgroupDriver.ValidateUnitName("bad name.scope", ".scope"));
        Assert.Throws<ArgumentException>(() => SystemdCgroupDriver.ValidateUnitName("a/b.scope", ".scope"));
        Assert.Throws<ArgumentException>(() => SystemdCgroupDriver.ValidateUnitName("x.service", ".scope"));
        Assert.Throws<ArgumentException>(() => SystemdCgroupDriver.ValidateUnitName(new string('a', 250) + ".scope", ".scope"));
    }

    [Fact]
    public void Limits_must_become_systemd_properties()
    {
        var properties = SystemdCgroupDriver.StartProperties((SystemdCgroupsPath)CgroupsPath.Parse("::s"), 42, Limits).ToDictionary(p => p.Name, p => p.Value);
        Assert.Equal("system.slice", properties["Slice"].GetString());
        Assert.True(properties["Delegate"].GetBool());
        Assert.Equal([42u], properties["PIDs"].GetArray<uint>());
        Assert.Equal(64UL << 20, properties["MemoryMax"].GetUInt64());
        Assert.Equal(200_000UL, properties["CPUQuotaPerSecUSec"].GetUInt64());
        Assert.Equal(100_000UL, properties["CPUQuotaPeriodUSec"].GetUInt64());
        Assert.Equal(CgroupValues.SharesToWeight(2048), properties["CPUWeight"].GetUInt64());
        Assert.Equal(40UL, properties["TasksMax"].GetUInt64());
        Assert.Equal(ulong.MaxValue, SystemdCgroupDriver.LimitProperties(new CgroupLimits { PidsMax = -1 }).Single().Value.GetUInt64());
        Assert.Empty(SystemdCgroupDriver.LimitProperties(CgroupLimits.None));
    }
}

/// <summary>One systemd namespace for all systemd specs; they run one after another.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SystemdCollection : ICollectionFixture<SystemdFixture>
{
    public const string Name = "systemd";
}
