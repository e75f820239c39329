using System.Globalization;
using WasmKata.Config;

namespace WasmKata.Specs.EndToEnd;

/// <summary>
/// Which guest isolation the end-to-end specs' shims run with, so a spec can assert what holds in that mode. Their
/// containerd passes no configuration path and inherits this process's environment, so the shims read exactly what
/// <see cref="ConfigLoader.Load"/> reads here (KATA_CONF_FILE, the default path, else the built-in default).
/// </summary>
public static class GuestIsolation
{
    /// <summary><c>[wasmkata] guest_isolation</c>: "thread" or "process".</summary>
    public static string Mode { get; } = ConfigLoader.Load(null).GuestIsolation;

    /// <summary>True when each guest runs in a guest host process of its own.</summary>
    public static bool IsProcess => Mode == "process";

    /// <summary>The argv of <paramref name="pid"/>, empty once it is gone.</summary>
    public static string[] Argv(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline").Split('\0', StringSplitOptions.RemoveEmptyEntries);
        }
        catch (IOException)
        {
            return [];
        }
    }

    /// <summary>True when <paramref name="pid"/> is a process of the shim's executable in guest-host mode.</summary>
    public static bool IsGuestHost(int pid) => Argv(pid) is [_, "guest-host", ..];

    /// <summary>A field of <c>/proc/PID/status</c> such as Tgid or PPid.</summary>
    public static int StatusField(int pid, string name)
    {
        var line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith(name + ":", StringComparison.Ordinal));
        return int.Parse(line[(name.Length + 1)..].Trim(), CultureInfo.InvariantCulture);
    }
}
