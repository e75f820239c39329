using System.Net.Sockets;
using WasmKata.Actors.Oci;
using WasmKata.Linux.Process;
using WasmKata.Shim.Service;

namespace WasmKata.Shim.Actions;

/// <summary>
/// The <c>start</c> action: find or start the daemon for this container's group and print its address. The socket
/// is bound here and handed to the daemon as fd 3, so it listens before containerd dials.
/// </summary>
internal static class StartAction
{
    /// <summary>How <c>start</c> tells the daemon which configuration.toml the first container named.</summary>
    public const string ConfigEnvironmentVariable = "WASMKATA_CONFIG_PATH";

    /// <summary>The managed shim beside the native front (build.sh installs both); the front starts it as the daemon.</summary>
    public const string DaemonExecutable = "shimd/wasmkata-shimd";

    /// <summary>
    /// Runs the action; the daemon is <paramref name="daemon"/> started with argv[0] <paramref name="argv0"/> (the
    /// name containerd knows the shim by).
    /// </summary>
    public static int Run(ShimArgs args, TextWriter stdout, string daemon, string argv0)
    {
        // containerd sends runtime options (or 2.3+ bootstrap params) on stdin; read it all so it never blocks.
        var input = new MemoryStream();
        using (var stdin = Console.OpenStandardInput())
            stdin.CopyTo(input);
        var configPath = RuntimeOptions.ConfigPathFromStartInput(input.ToArray());
        var bundle = Directory.GetCurrentDirectory();
        OciSpec? spec = null;
        try
        {
            spec = OciJson.ReadSpec(bundle);
        }
        catch (OciSpecException)
        {
            // Create reports a bad spec with a proper error; grouping just falls back to the task id.
        }
        var socketPath = ShimAddress.SocketPath(args.Address, args.Namespace, ShimAddress.GroupOf(args.Id, spec));
        var address = ShimAddress.ToUri(socketPath);
        try
        {
            using var listener = UnixListener.Bind(socketPath, replaceStale: true);
            // The daemon's engine settings come from the same configuration.toml the first container names.
            var env = new Dictionary<string, string> { [ConfigEnvironmentVariable] = configPath };
            Daemon.Spawn(daemon, [argv0, .. args.ToArgs("serve")], listener.SafeHandle, bundle, env);
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            // A live shim already serves this group: hand containerd its address.
        }
        File.WriteAllText(Path.Combine(bundle, "address"), address);
        stdout.Write(address);
        return 0;
    }
}
