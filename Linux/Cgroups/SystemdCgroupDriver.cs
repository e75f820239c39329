using WasmKata.Linux.Systemd;

namespace WasmKata.Linux.Cgroups;

/// <summary>Puts a sandbox in a transient systemd scope unit, created and changed over D-Bus, as runc's systemd driver does.</summary>
public sealed class SystemdCgroupDriver : ICgroupDriver, IDisposable
{
    private readonly SystemdManager _manager;
    private readonly bool _ownsManager;

    /// <summary>A driver over <paramref name="manager"/>; disposing the driver disposes the manager when <paramref name="ownsManager"/>.</summary>
    public SystemdCgroupDriver(SystemdManager manager, bool ownsManager = false)
    {
        ArgumentNullException.ThrowIfNull(manager);
        _manager = manager;
        _ownsManager = ownsManager;
    }

    /// <inheritdoc />
    public string Name => "systemd";

    /// <summary>The connection to systemd.</summary>
    public SystemdManager Manager => _manager;

    /// <summary>Connects to systemd (see <see cref="SystemdManager.ConnectAsync"/>) and owns the connection.</summary>
    public static async Task<SystemdCgroupDriver> ConnectAsync(IEnumerable<string>? addresses = null, CancellationToken cancellationToken = default) =>
        new(await SystemdManager.ConnectAsync(addresses, cancellationToken).ConfigureAwait(false), ownsManager: true);

    /// <summary>
    /// The properties of a new sandbox scope: its pid, slice and description, delegation (the shim may manage cgroups
    /// below it), accounting for the stats, and the limits. <paramref name="pid"/> is as systemd's pid namespace sees it.
    /// </summary>
    public static IReadOnlyList<UnitProperty> StartProperties(SystemdCgroupsPath path, int pid, CgroupLimits limits)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(limits);
        var properties = new List<UnitProperty>
        {
            UnitProperty.String("Description", "WasmKata sandbox " + path.Name),
            UnitProperty.String("Slice", path.SliceUnit),
            UnitProperty.Bool("Delegate", true),
            UnitProperty.UInt32s("PIDs", checked((uint)pid)),
            UnitProperty.Bool("DefaultDependencies", false),
            UnitProperty.Bool("MemoryAccounting", true),
            UnitProperty.Bool("CPUAccounting", true),
            UnitProperty.Bool("TasksAccounting", true),
        };
        properties.AddRange(LimitProperties(limits));
        return properties;
    }

    /// <summary>The unit properties for the limits set in <paramref name="limits"/>.</summary>
    public static IReadOnlyList<UnitProperty> LimitProperties(CgroupLimits limits)
    {
        ArgumentNullException.ThrowIfNull(limits);
        var properties = new List<UnitProperty>();
        if (limits.MemoryMaxBytes is { } memory)
            properties.Add(UnitProperty.UInt64("MemoryMax", CgroupValues.SystemdLimit(memory)));

        if (limits.CpuQuotaUs is { } quota)
            properties.Add(UnitProperty.UInt64("CPUQuotaPerSecUSec", CgroupValues.SystemdQuotaPerSecUs(quota, limits.CpuPeriodUs)));

        if (limits.CpuPeriodUs is { } period)
            properties.Add(UnitProperty.UInt64("CPUQuotaPeriodUSec", period));

        if (limits.CpuShares is { } shares and > 0)
        {
            // systemd takes a weight on every hierarchy and turns it back into shares on v1 (weight 100 = 1024 shares).
            properties.Add(UnitProperty.UInt64("CPUWeight", CgroupValues.SharesToWeight(shares)));
        }

        if (limits.PidsMax is { } pids)
            properties.Add(UnitProperty.UInt64("TasksMax", CgroupValues.SystemdLimit(pids)));

        return properties;
    }

    /// <summary>
    /// Starts scope <c>prefix-name.scope</c> in the slice holding <paramref name="pid"/> (mode "fail": an existing unit of
    /// that name is an error) and waits for its job.
    /// </summary>
    public async Task<ISandboxCgroup> CreateAsync(CgroupsPath path, int pid, CgroupLimits limits, CancellationToken cancellationToken = default)
    {
        var unitPath = AsUnitPath(path);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(pid);
        ValidateUnitName(unitPath.UnitName, ".scope");
        ValidateUnitName(unitPath.SliceUnit, ".slice");

        // Only this very process is moved back out before the scope is stopped (stopping kills what is inside); its
        // cgroups are read here, before systemd moves it.
        var origin = pid == Environment.ProcessId ? CgroupMembership.Read() : null;
        try
        {
            await _manager.StartTransientUnitAsync(unitPath.UnitName, "fail", StartProperties(unitPath, pid, limits), cancellationToken).ConfigureAwait(false);
        }
        catch (SystemdException e)
        {
            // A failed start can leave a failed unit behind; forget it so the name can be used again.
            await _manager.ResetFailedUnitAsync(unitPath.UnitName).ConfigureAwait(false);
            throw new CgroupException($"cannot create scope {unitPath.UnitName} in {unitPath.SliceUnit}: {e.Message}", 0, e);
        }

        return new SystemdSandboxCgroup(this, unitPath, origin);
    }

    /// <summary>Stops the scope (systemd kills whatever is still in it) and forgets it; no such unit is fine.</summary>
    public async Task RemoveAsync(CgroupsPath path, CancellationToken cancellationToken = default)
    {
        var unit = AsUnitPath(path).UnitName;
        try
        {
            await _manager.StopUnitAsync(unit, cancellationToken).ConfigureAwait(false);
        }
        catch (SystemdException e)
        {
            throw new CgroupException($"cannot stop scope {unit}: {e.Message}", 0, e);
        }

        await _manager.ResetFailedUnitAsync(unit).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_ownsManager)
            _manager.Dispose();
    }

    internal static void ValidateUnitName(string name, string suffix)
    {
        var valid = name.Length is > 0 and <= 255
            && name.EndsWith(suffix, StringComparison.Ordinal)
            && name.Length > suffix.Length
            && name.All(c => char.IsAsciiLetterOrDigit(c) || c is ':' or '_' or '.' or '-' or '\\' or '@');
        if (!valid)
            throw new ArgumentException($"'{name}' is not a valid systemd {suffix[1..]} unit name", nameof(name));
    }

    private static SystemdCgroupsPath AsUnitPath(CgroupsPath path) => path as SystemdCgroupsPath
        ?? throw new ArgumentException($"cgroups path '{path}' is for the cgroupfs driver", nameof(path));
}
