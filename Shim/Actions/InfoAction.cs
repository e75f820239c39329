using Google.Protobuf;
using WasmKata.Core.Protos.Types;

namespace WasmKata.Shim.Actions;

/// <summary>The <c>-info</c> action: the runtime's name and version as a protobuf <c>RuntimeInfo</c>.</summary>
internal static class InfoAction
{
    /// <summary>The runtime name containerd knows the shim by.</summary>
    public const string RuntimeName = "io.containerd.wasmkata.v2";

    public static int Run(Stream stdout)
    {
        // Runtime options may arrive on stdin; they change nothing here, but must be consumed.
        using (var stdin = Console.OpenStandardInput())
            stdin.CopyTo(Stream.Null);
        var version = typeof(InfoAction).Assembly.GetName().Version?.ToString() ?? "0.0.0";
        new RuntimeInfo { Name = RuntimeName, Version = new RuntimeVersion { Version = version } }.WriteTo(stdout);
        stdout.Flush();
        return 0;
    }
}
