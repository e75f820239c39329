using System.Diagnostics;
using Serilog;
using WasmKata.Core.Bootstrap;
using WasmKata.Core.Spare;
using WasmKata.Linux;
using WasmKata.Linux.Processes;
using WasmKata.Shim.Hosting;

namespace WasmKata.Shim.Actions;

/// <summary>
/// The daemon started cold: adopts the listening socket (fd 3) from <c>start</c>, runs the actor tree in a plain actor
/// system and serves the task API until containerd shuts it down (or SIGTERM), then removes its socket and exits.
/// </summary>
internal static class ServeAction
{
    public static async Task<int> RunAsync(ShimArgs args)
    {
        var started = Stopwatch.StartNew();
        // The same executable answers start and delete: its daemons are told apart by name (ps, top, the bench).
        Self.SetProcessName(SpareOptions.DaemonName);
        var bundle = Directory.GetCurrentDirectory();
        var (config, configError) = DaemonCore.LoadConfig();
        var debug = args.Debug || config.LogLevel == "debug";
        Log.Logger = ShimLog.Create(Path.Combine(bundle, "log"), debug);
        var log = Log.Logger.ForContext("Namespace", args.Namespace);
        if (configError is not null)
            log.Warning("configuration: {Error}; using defaults", configError);
        if (Environment.GetEnvironmentVariable(SpareOptions.MissedVariable) is { Length: > 0 } missed)
            log.Information("started cold for {Id}: {Reason}", args.Id, missed);
        try
        {
            using var listener = UnixListener.AdoptInherited();
            await using var core = await DaemonCore.StartAsync(args, config, debug);
            return await core.ServeAsync(listener, args.Id, bundle, log, started, "the daemon started");
        }
        catch (Exception e)
        {
            log.Fatal(e, "shim daemon failed");
            return 1;
        }
        finally
        {
            await Log.CloseAndFlushAsync();
        }
    }
}
