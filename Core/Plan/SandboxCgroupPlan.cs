using WasmKata.Config;
using WasmKata.Core.Oci;
using WasmKata.Linux.Cgroups;

namespace WasmKata.Core.Plan;

/// <summary>
/// Where the sandbox's host cgroup goes and what it is limited to, decided from the sandbox's (first) container's
/// <c>linux.cgroupsPath</c> and <c>linux.resources</c> and the configuration; also what a crashed shim's <c>delete</c>
/// needs to remove it (persisted with each container's state).
/// </summary>
/// <param name="Driver">"cgroupfs" or "systemd".</param>
/// <param name="Path">The cgroups path as given (<c>slice:prefix:name</c> for systemd).</param>
/// <param name="SystemdAddress">The D-Bus address of systemd; empty for the usual ones.</param>
public sealed record SandboxCgroupPlan(string Driver, string Path, string SystemdAddress)
{
    /// <summary>The limits the cgroup is created with.</summary>
    public CgroupLimits Limits { get; init; } = CgroupLimits.None;

    /// <summary>
    /// The plan for a sandbox whose first container has <paramref name="spec"/>; null when the spec names no cgroups path
    /// (the shim then stays where containerd started it: no cgroup is made that nobody asked for). The systemd driver is
    /// used for a <c>slice:prefix:name</c> path, as runc does, and a cgroupfs-style path with
    /// <c>cgroup_driver = "systemd"</c> is refused as runc refuses it. Throws <see cref="ArgumentException"/> for a bad path.
    /// </summary>
    /// <remarks>
    /// Limits: the memory limit plus the configured overhead (the cgroup holds the whole shim, not just linear memory) and
    /// the CPU shares. The CPU quota is not put on the cgroup: the engine enforces it on the guest thread alone, and a
    /// quota on the cgroup would also throttle the shim's own threads (kill, events, output), which are not the guest's.
    /// </remarks>
    public static SandboxCgroupPlan? For(OciSpec spec, ShimConfig config)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(config);
        if (spec.Linux?.CgroupsPath is not { Length: > 0 } value)
            return null;
        CgroupsPath path;
        try
        {
            path = CgroupsPath.Parse(value);
        }
        catch (FormatException e)
        {
            throw new ArgumentException($"linux.cgroupsPath: {e.Message}", e);
        }
        var systemd = path is SystemdCgroupsPath;
        if (!systemd && config.CgroupDriver == "systemd")
            throw new ArgumentException($"linux.cgroupsPath '{value}' must be \"slice:prefix:name\" with cgroup_driver = \"systemd\" ({config.SourcePath})");
        var resources = spec.Linux.Resources;
        var memory = resources?.Memory?.Limit is > 0 and var limit ? limit + ((long)config.SandboxMemoryOverheadMb << 20) : (long?)null;
        return new SandboxCgroupPlan(systemd ? "systemd" : "cgroupfs", value, systemd ? config.SystemdAddress : "")
        {
            Limits = new CgroupLimits { MemoryMaxBytes = memory, CpuShares = resources?.Cpu?.Shares is > 0 and var shares ? shares : null },
        };
    }

    /// <summary>Creates the cgroup with this plan's driver and moves process <paramref name="pid"/> into it.</summary>
    public async Task<SandboxCgroup> CreateAsync(int pid, CancellationToken cancellationToken = default)
    {
        var driver = await ConnectAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var cgroup = await driver.CreateAsync(CgroupsPath.Parse(Path), pid, Limits, cancellationToken).ConfigureAwait(false);
            return new SandboxCgroup(this, driver, cgroup);
        }
        catch
        {
            (driver as IDisposable)?.Dispose();
            throw;
        }
    }

    /// <summary>Removes the cgroup of this plan (a crashed shim's, from its saved state); gone already is fine.</summary>
    public Task RemoveAsync(CancellationToken cancellationToken = default) =>
        CgroupDrivers.RemoveAsync(Driver, Path, SystemdAddress, cancellationToken);

    private Task<ICgroupDriver> ConnectAsync(CancellationToken cancellationToken) =>
        CgroupDrivers.ConnectAsync(Driver, SystemdAddress, cancellationToken);
}

/// <summary>The sandbox's live host cgroup and the driver (a D-Bus connection for systemd) that made it.</summary>
public sealed class SandboxCgroup(SandboxCgroupPlan plan, ICgroupDriver driver, ISandboxCgroup cgroup)
{
    /// <summary>What it was made from.</summary>
    public SandboxCgroupPlan Plan { get; } = plan;

    /// <summary>Reads what the sandbox has used.</summary>
    public Task<CgroupStats> ReadStatsAsync(CancellationToken cancellationToken = default) => cgroup.ReadStatsAsync(cancellationToken);

    /// <summary>Moves the shim back out, removes the cgroup and closes the driver.</summary>
    public async Task RemoveAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            await cgroup.RemoveAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            (driver as IDisposable)?.Dispose();
        }
    }
}
