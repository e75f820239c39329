using WasmKata.Linux.Systemd;
using Xunit;

namespace WasmKata.Specs.Linux.Systemd;

/// <summary>The spec systemd itself: up, isolated from the host, and gone without a trace.</summary>
[Trait("Requires", "root")]
[Collection(SystemdCollection.Name)]
public sealed class SystemdFixtureSpec
{
    [Fact]
    public async Task Booted_systemd_must_be_pid_1_of_its_namespace_start_no_host_service_and_leave_nothing_behind()
    {
        var hostTmp = Directory.GetFileSystemEntries("/tmp").Length;
        var systemd = new SystemdFixture();
        await systemd.InitializeAsync();
        string[] units;
        try
        {
            Assert.Contains("NSpid:\t" + systemd.Pid + "\t1\n", File.ReadAllText($"/proc/{systemd.Pid}/status"), StringComparison.Ordinal);
            Assert.Equal("wasmkata", File.ReadAllText(systemd.Inside("/run/systemd/container")).Trim());
            using var manager = await SystemdManager.ConnectAsync([systemd.PrivateAddress]);
            Assert.StartsWith("25", await manager.GetVersionAsync(), StringComparison.Ordinal);
            units = (await ListUnits(manager)).ToArray();
        }
        finally
        {
            await systemd.DisposeAsync();
        }

        // Only what the spec target pulls in (and systemd's own slices, scopes and the mounts it sees) may be running.
        var services = units.Where(u => u.EndsWith(".service", StringComparison.Ordinal)).ToArray();
        Assert.All(services, s => Assert.True(s.StartsWith("wasmkata-", StringComparison.Ordinal) || s == "dbus.service", s));
        Assert.DoesNotContain("sysinit.target", units);
        Assert.Empty(systemd.LeakedMounts);
        Assert.False(Directory.Exists($"/proc/{systemd.Pid}/root/run/systemd"), "the namespace's init is gone");
        Assert.InRange(Directory.GetFileSystemEntries("/tmp").Length, hostTmp - 50, hostTmp + 50);
    }

    private static async Task<IEnumerable<string>> ListUnits(SystemdManager manager)
    {
        // Active units only: loaded-but-dead ones (e.g. mount units for host mounts) do not run anything.
        var names = new List<string>();
        foreach (var name in new[] { "sysinit.target", "systemd-udevd.service", "systemd-sysctl.service", "systemd-journald.service", "wasmkata-bus.service", "dbus.service", "cron.service", "containerd.service", "ssh.service" })
        {
            if (await manager.GetUnitAsync(name) is { } path
                && (await manager.GetAllPropertiesAsync(path, "org.freedesktop.systemd1.Unit"))["ActiveState"].GetString() is "active" or "activating")
            {
                names.Add(name);
            }
        }
        return names;
    }
}
