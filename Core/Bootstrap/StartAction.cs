using WasmKata.Core.Oci;
using WasmKata.Core.Spare;
using WasmKata.Linux.Processes;

namespace WasmKata.Core.Bootstrap;

/// <summary>
/// The <c>start</c> action: find or start the daemon for this container's group and print its address. The socket
/// is bound here and handed to the daemon as fd 3, so it listens before containerd dials.
/// </summary>
internal static class StartAction
{
    /// <summary>How <c>start</c> tells the daemon which configuration.toml the first container named.</summary>
    public const string ConfigEnvironmentVariable = "WASMKATA_CONFIG_PATH";

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
        // The daemon's engine settings come from the same configuration.toml the first container names.
        var env = new Dictionary<string, string> { [ConfigEnvironmentVariable] = configPath };
        var spareKey = SpareOptions.IdleTimeout() is null ? null : SpareOptions.Key(args, configPath, daemon);
        var newSandbox = false;
        // A fresh socket, or the claim of a daemon that serves this group and stays for this container: never the
        // address of a daemon that is exiting (ShimSocket waits for it to let go of the path and binds again).
        using (var listener = ShimSocket.BindOrClaim(socketPath, args.Id))
        {
            if (listener is not null)
            {
                newSandbox = true;
                var missed = spareKey is null ? "spares are off" : SpareHandover.TryHandOver(HandoverFor(args, spareKey, bundle, configPath), listener.SafeHandle);
                if (missed is not null)
                    Daemon.Spawn(daemon, [argv0, .. args.ToArgs("serve")], listener.SafeHandle, bundle, new Dictionary<string, string>(env) { [SpareOptions.MissedVariable] = missed });
            }
        }
        File.WriteAllText(Path.Combine(bundle, "address"), address);
        stdout.Write(address);
        stdout.Flush();
        // Only a start that made a sandbox used a daemon up (or started one cold); a container joining one did not.
        if (newSandbox && spareKey is not null)
            SpareHandover.StartIfNone(spareKey, daemon, argv0, args, env);
        return 0;
    }

    private static HandoverMessage HandoverFor(ShimArgs args, string key, string bundle, string configPath) => new(
        key, args.Id, bundle, args.Namespace, args.Address, TtrpcAddress(args), args.PublishBinary, args.Debug, configPath);

    /// <summary>containerd's events (ttrpc) socket: TTRPC_ADDRESS in the environment it gives shims, else beside its address.</summary>
    public static string TtrpcAddress(ShimArgs args) => Environment.GetEnvironmentVariable("TTRPC_ADDRESS") ?? args.Address + ".ttrpc";
}
