using Tmds.DBus.Protocol;

namespace WasmKata.Linux.Systemd;

public sealed partial class SystemdManager
{
    /// <summary>
    /// StartTransientUnit(<paramref name="name"/>, <paramref name="mode"/>, properties, no aux units) and waits for its
    /// job; throws <see cref="SystemdException"/> when systemd refuses it or the job result is not "done".
    /// </summary>
    public async Task StartTransientUnitAsync(string name, string mode, IReadOnlyList<UnitProperty> properties, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(properties);
        var job = await CallAsync(
            ManagerPath, ManagerInterface, "StartTransientUnit", "ssa(sv)a(sa(sv))",
            (ref MessageWriter writer) =>
            {
                writer.WriteString(name);
                writer.WriteString(mode);
                WriteProperties(ref writer, properties);
                var aux = writer.WriteArrayStart(DBusType.Struct);
                writer.WriteArrayEnd(aux);
            },
            (message, _) => message.GetBodyReader().ReadObjectPathAsString()).ConfigureAwait(false);
        var result = await WaitForJobAsync(job, cancellationToken).ConfigureAwait(false);
        if (result != "done")
            throw new SystemdException($"starting unit {name} ended with \"{result}\"", result);
    }

    /// <summary>SetUnitProperties(<paramref name="name"/>, runtime, properties): changes a live unit's settings.</summary>
    public Task SetUnitPropertiesAsync(string name, bool runtime, IReadOnlyList<UnitProperty> properties) =>
        CallAsync(ManagerPath, ManagerInterface, "SetUnitProperties", "sba(sv)", (ref MessageWriter writer) =>
        {
            writer.WriteString(name);
            writer.WriteBool(runtime);
            WriteProperties(ref writer, properties);
        });

    /// <summary>StopUnit(<paramref name="name"/>, "replace") and waits for the job; false when there was no such unit.</summary>
    public async Task<bool> StopUnitAsync(string name, CancellationToken cancellationToken = default)
    {
        string job;
        try
        {
            job = await CallAsync(
                ManagerPath, ManagerInterface, "StopUnit", "ss",
                (ref MessageWriter writer) =>
                {
                    writer.WriteString(name);
                    writer.WriteString("replace");
                },
                (message, _) => message.GetBodyReader().ReadObjectPathAsString()).ConfigureAwait(false);
        }
        catch (SystemdException e) when (e.ErrorName == "org.freedesktop.systemd1.NoSuchUnit")
        {
            return false;
        }

        var result = await WaitForJobAsync(job, cancellationToken).ConfigureAwait(false);
        if (result is not ("done" or "canceled"))
            throw new SystemdException($"stopping unit {name} ended with \"{result}\"", result);

        return true;
    }

    /// <summary>ResetFailedUnit(<paramref name="name"/>): forgets a failed unit; no such unit (or not failed) is fine.</summary>
    public async Task ResetFailedUnitAsync(string name)
    {
        try
        {
            await CallAsync(ManagerPath, ManagerInterface, "ResetFailedUnit", "s", (ref MessageWriter writer) => writer.WriteString(name)).ConfigureAwait(false);
        }
        catch (SystemdException e) when (e.ErrorName is "org.freedesktop.systemd1.NoSuchUnit" or "org.freedesktop.systemd1.UnitNotFailed")
        {
        }
    }

    /// <summary>The object path of loaded unit <paramref name="name"/>, or null when systemd has no such unit loaded.</summary>
    public async Task<string?> GetUnitAsync(string name)
    {
        try
        {
            return await CallAsync(
                ManagerPath, ManagerInterface, "GetUnit", "s", (ref MessageWriter writer) => writer.WriteString(name),
                (message, _) => message.GetBodyReader().ReadObjectPathAsString()).ConfigureAwait(false);
        }
        catch (SystemdException e) when (e.ErrorName == "org.freedesktop.systemd1.NoSuchUnit")
        {
            return null;
        }
    }

    /// <summary>GetUnitProcesses(<paramref name="name"/>): every process in the unit's cgroup.</summary>
    public Task<IReadOnlyList<UnitProcess>> GetUnitProcessesAsync(string name) =>
        CallAsync<IReadOnlyList<UnitProcess>>(
            ManagerPath, ManagerInterface, "GetUnitProcesses", "s", (ref MessageWriter writer) => writer.WriteString(name),
            (message, _) =>
            {
                var reader = message.GetBodyReader();
                var result = new List<UnitProcess>();
                var end = reader.ReadArrayStart(DBusType.Struct);
                while (reader.HasNext(end))
                {
                    reader.AlignStruct();
                    var cgroup = reader.ReadString();
                    var pid = reader.ReadUInt32();
                    var command = reader.ReadString();
                    result.Add(new UnitProcess(cgroup, (int)pid, command));
                }

                return result;
            });

    private static void WriteProperties(ref MessageWriter writer, IReadOnlyList<UnitProperty> properties)
    {
        var array = writer.WriteArrayStart(DBusType.Struct);
        foreach (var property in properties)
        {
            writer.WriteStructureStart();
            writer.WriteString(property.Name);
            writer.WriteVariant(property.Value);
        }

        writer.WriteArrayEnd(array);
    }
}
