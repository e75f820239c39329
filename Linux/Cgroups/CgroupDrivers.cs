namespace WasmKata.Linux.Cgroups;

/// <summary>The cgroup drivers by their configuration names, "cgroupfs" and "systemd".</summary>
public static class CgroupDrivers
{
    /// <summary>
    /// The driver called <paramref name="driver"/>; for systemd a D-Bus connection to <paramref name="systemdAddress"/>
    /// (empty: the usual addresses). Dispose it if it is <see cref="IDisposable"/>.
    /// </summary>
    public static async Task<ICgroupDriver> ConnectAsync(string driver, string systemdAddress, CancellationToken cancellationToken = default) =>
        driver == "systemd"
            ? await SystemdCgroupDriver.ConnectAsync(systemdAddress.Length > 0 ? [systemdAddress] : null, cancellationToken).ConfigureAwait(false)
            : new CgroupfsDriver();

    /// <summary>Removes the cgroup at <paramref name="path"/> made by <paramref name="driver"/>; gone already is fine.</summary>
    public static async Task RemoveAsync(string driver, string path, string systemdAddress, CancellationToken cancellationToken = default)
    {
        var connected = await ConnectAsync(driver, systemdAddress, cancellationToken).ConfigureAwait(false);
        try
        {
            await connected.RemoveAsync(CgroupsPath.Parse(path), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            (connected as IDisposable)?.Dispose();
        }
    }
}
