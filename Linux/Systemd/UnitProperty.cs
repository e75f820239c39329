using Tmds.DBus.Protocol;

namespace WasmKata.Linux.Systemd;

/// <summary>One property of a unit as StartTransientUnit and SetUnitProperties take it (an <c>(sv)</c> pair).</summary>
/// <param name="Name">The property, e.g. <c>MemoryMax</c>.</param>
/// <param name="Value">Its value, typed as systemd expects (t for limits, b, s, au).</param>
public sealed record UnitProperty(string Name, VariantValue Value)
{
    /// <summary>A string property (<c>s</c>).</summary>
    public static UnitProperty String(string name, string value) => new(name, value);

    /// <summary>A boolean property (<c>b</c>).</summary>
    public static UnitProperty Bool(string name, bool value) => new(name, value);

    /// <summary>A uint64 property (<c>t</c>); limits use <see cref="ulong.MaxValue"/> for infinity.</summary>
    public static UnitProperty UInt64(string name, ulong value) => new(name, value);

    /// <summary>A uint32 array property (<c>au</c>), e.g. PIDs.</summary>
    public static UnitProperty UInt32s(string name, params uint[] values) => new(name, new Tmds.DBus.Protocol.Array<uint>(values).AsVariantValue());

    /// <inheritdoc />
    public override string ToString() => $"{Name}={Value}";
}

/// <summary>A process of a unit, as GetUnitProcesses reports it (pid as systemd's pid namespace sees it).</summary>
/// <param name="ControlGroup">The cgroup path of the process, e.g. <c>/system.slice/x.scope</c>.</param>
/// <param name="Pid">The process id.</param>
/// <param name="CommandLine">Its command line, as systemd formats it.</param>
public sealed record UnitProcess(string ControlGroup, int Pid, string CommandLine);
