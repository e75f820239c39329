namespace WasmKata.Linux.Cgroups;

/// <summary>Places a sandbox (the shim process, whose threads run the guests) in a host cgroup with limits.</summary>
public interface ICgroupDriver
{
    /// <summary>A short name for logs, e.g. "cgroupfs v1" or "systemd".</summary>
    string Name { get; }

    /// <summary>
    /// Creates the cgroup at <paramref name="path"/> with <paramref name="limits"/> and moves process
    /// <paramref name="pid"/> (all its threads) into it; on failure nothing is left behind.
    /// </summary>
    Task<ISandboxCgroup> CreateAsync(CgroupsPath path, int pid, CgroupLimits limits, CancellationToken cancellationToken = default);

    /// <summary>Removes a cgroup this driver created, by path (e.g. from the shim's delete action); gone already is fine.</summary>
    Task RemoveAsync(CgroupsPath path, CancellationToken cancellationToken = default);
}

/// <summary>A sandbox's host cgroup, made by <see cref="ICgroupDriver.CreateAsync"/>.</summary>
public interface ISandboxCgroup
{
    /// <summary>Where it is: a cgroupfs path or a systemd unit.</summary>
    CgroupsPath Path { get; }

    /// <summary>Changes the limits that are set (non-null) in <paramref name="limits"/>.</summary>
    Task UpdateAsync(CgroupLimits limits, CancellationToken cancellationToken = default);

    /// <summary>Reads what the cgroup has used.</summary>
    Task<CgroupStats> ReadStatsAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Moves this process back to where it came from (so the shim never kills or strands itself), then removes the
    /// cgroup; anything else still in it is moved out (cgroupfs) or stopped (systemd). Idempotent.
    /// </summary>
    Task RemoveAsync(CancellationToken cancellationToken = default);
}
