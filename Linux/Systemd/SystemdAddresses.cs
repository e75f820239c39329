namespace WasmKata.Linux.Systemd;

/// <summary>Where systemd's manager API can be reached.</summary>
public static class SystemdAddresses
{
    /// <summary>systemd's own socket: peer-to-peer D-Bus (no dbus-daemon, no Hello), root only.</summary>
    public const string Private = "unix:path=/run/systemd/private";

    /// <summary>The system bus: <c>DBUS_SYSTEM_BUS_ADDRESS</c> when set, else the standard socket.</summary>
    public static string SystemBus =>
        Environment.GetEnvironmentVariable("DBUS_SYSTEM_BUS_ADDRESS") is { Length: > 0 } address
            ? address
            : "unix:path=/run/dbus/system_bus_socket";

    /// <summary>What to try, in order, as systemctl does: the private socket first when root, then the system bus.</summary>
    public static IReadOnlyList<string> Defaults => Environment.IsPrivilegedProcess ? [Private, SystemBus] : [SystemBus];
}
