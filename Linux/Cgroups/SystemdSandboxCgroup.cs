using System.Globalization;
using WasmKata.Linux.Systemd;

namespace WasmKata.Linux.Cgroups;

/// <summary>A sandbox's scope unit.</summary>
internal sealed class SystemdSandboxCgroup : ISandboxCgroup
{
    private const string UnitInterface = "org.freedesktop.systemd1.Unit";
    private const string ScopeInterface = "org.freedesktop.systemd1.Scope";

    private readonly SystemdCgroupDriver _driver;
    private readonly SystemdCgroupsPath _path;
    private readonly CgroupMembership? _origin;

    public SystemdSandboxCgroup(SystemdCgroupDriver driver, SystemdCgroupsPath path, CgroupMembership? origin)
    {
        _driver = driver;
        _path = path;
        _origin = origin;
    }

    public CgroupsPath Path => _path;

    public async Task UpdateAsync(CgroupLimits limits, CancellationToken cancellationToken = default)
    {
        var properties = SystemdCgroupDriver.LimitProperties(limits);
        if (properties.Count == 0)
            return;

        try
        {
            await _driver.Manager.SetUnitPropertiesAsync(_path.UnitName, runtime: true, properties).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (SystemdException e)
        {
            throw new CgroupException($"cannot update scope {_path.UnitName}: {e.Message}", 0, e);
        }
    }

    public async Task<CgroupStats> ReadStatsAsync(CancellationToken cancellationToken = default)
    {
        var unit = await _driver.Manager.GetUnitAsync(_path.UnitName).WaitAsync(cancellationToken).ConfigureAwait(false)
            ?? throw new CgroupException($"scope {_path.UnitName} does not exist");
        var scope = await _driver.Manager.GetAllPropertiesAsync(unit, ScopeInterface).WaitAsync(cancellationToken).ConfigureAwait(false);
        return new CgroupStats(
            Figure(scope, "MemoryCurrent"),
            Figure(scope, "MemoryMax"),
            Figure(scope, "CPUUsageNSec"),
            Figure(scope, "TasksCurrent"));
    }

    public async Task RemoveAsync(CancellationToken cancellationToken = default)
    {
        if (_origin is not null)
            MoveSelfBack(_origin);

        await _driver.RemoveAsync(_path, cancellationToken).ConfigureAwait(false);
    }

    // systemd reports "not set" (no accounting, or no limit) as uint64 max.
    private static long? Figure(Dictionary<string, Tmds.DBus.Protocol.VariantValue> properties, string name) =>
        properties.TryGetValue(name, out var value) && value.GetUInt64() is var number && number < long.MaxValue ? (long)number : null;

    // Stopping a scope kills everything in it, so the shim first leaves it for the cgroups it came from, in every
    // hierarchy (systemd's own included); cgroupfs is the only way, as systemd has no "move out" call.
    private void MoveSelfBack(CgroupMembership origin)
    {
        var pid = Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
        var current = CgroupMembership.Read();
        foreach (var hierarchy in CgroupMounts.Read().Hierarchies.DistinctBy(h => h.MountPoint))
        {
            if (origin.In(hierarchy) is not { } from || current.In(hierarchy) == from)
                continue;

            try
            {
                File.WriteAllText(System.IO.Path.Combine(hierarchy.Directory(from), "cgroup.procs"), pid);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new CgroupException($"cannot move this process out of scope {_path.UnitName} back to {from} in {hierarchy.MountPoint}; not stopping the scope, which would kill it", 0, e);
            }
        }
    }
}
