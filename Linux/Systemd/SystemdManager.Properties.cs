using Tmds.DBus.Protocol;

namespace WasmKata.Linux.Systemd;

public sealed partial class SystemdManager
{
    /// <summary>systemd's version string, e.g. "252.38-1~deb12u1".</summary>
    public async Task<string> GetVersionAsync()
    {
        var value = await GetPropertyAsync(ManagerPath, ManagerInterface, "Version").ConfigureAwait(false);
        return value.GetString();
    }

    /// <summary>All properties of <paramref name="interfaceName"/> (e.g. <c>org.freedesktop.systemd1.Scope</c>) of the unit at <paramref name="unitPath"/>.</summary>
    public Task<Dictionary<string, VariantValue>> GetAllPropertiesAsync(string unitPath, string interfaceName) =>
        CallAsync(
            unitPath, PropertiesInterface, "GetAll", "s", (ref MessageWriter writer) => writer.WriteString(interfaceName),
            (message, _) => message.GetBodyReader().ReadDictionaryOfStringToVariantValue());

    /// <summary>One property of an object.</summary>
    public Task<VariantValue> GetPropertyAsync(string path, string interfaceName, string property) =>
        CallAsync(
            path, PropertiesInterface, "Get", "ss",
            (ref MessageWriter writer) =>
            {
                writer.WriteString(interfaceName);
                writer.WriteString(property);
            },
            (message, _) => message.GetBodyReader().ReadVariantValue());
}
