using System.Diagnostics;
using Akka.Actor;
using Serilog;
using WasmKata.Actors;
using WasmKata.Actors.Engine;
using WasmKata.Actors.Sandbox;
using WasmKata.Config;
using WasmKata.Linux;
using WasmKata.Linux.Process;
using WasmKata.Shim.Events;
using WasmKata.Shim.Hosting;
using WasmKata.Shim.Inspection;
using WasmKata.Shim.Service;
using WasmKata.Shim.Ttrpc;

namespace WasmKata.Shim.Actions;

/// <summary>
/// The daemon: adopts the listening socket (fd 3) from <c>start</c>, runs the actor tree in a plain actor system and
/// serves the task API until containerd shuts it down (or SIGTERM), then removes its socket and exits.
/// </summary>
internal static class ServeAction
{
    public static async Task<int> RunAsync(ShimArgs args)
    {
        var started = Stopwatch.StartNew();
        var bundle = Directory.GetCurrentDirectory();
        ShimConfig config;
        string? configError = null;
        try
        {
            config = ConfigLoader.Load(Environment.GetEnvironmentVariable(StartAction.ConfigEnvironmentVariable));
        }
        catch (ConfigException e)
        {
            // Create refuses the container with this message; the daemon itself runs on defaults.
            config = new ShimConfig();
            configError = e.Message;
        }
        var debug = args.Debug || config.LogLevel == "debug";
        Log.Logger = ShimLog.Create(Path.Combine(bundle, "log"), debug);
        var log = Log.Logger.ForContext("Namespace", args.Namespace);
        if (configError is not null)
            log.Warning("configuration: {Error}; using defaults", configError);
        try
        {
            Self.SetChildSubreaper();
            using var listener = UnixListener.AdoptInherited();
            var socketPath = listener.LocalEndPoint?.ToString() ?? "";
            var beforeStart = started.Elapsed;
            var engineOptions = new EngineOptions
            {
                EpochTick = TimeSpan.FromMilliseconds(config.EpochTickMs),
                ModuleCacheDirectory = config.CompileCacheDir.Length > 0 ? config.CompileCacheDir : null,
                PoolingAllocator = config.PoolingAllocator,
            };
            // Wasmtime's engine, the actor system and the events connection start side by side: together they are
            // most of what a cold start waits for.
            var engineStarting = Task.Run(() => new WasmEngine(engineOptions, Log.Logger));
            var settings = new RuntimeSettings { DrainTimeout = TimeSpan.FromMilliseconds(config.DrainTimeoutMs), Namespace = args.Namespace };
            var ttrpcAddress = Environment.GetEnvironmentVariable("TTRPC_ADDRESS") ?? args.Address + ".ttrpc";
            await using var sink = new TtrpcEventSink(ttrpcAddress, args.Namespace);
            var lifetime = new Lifetime();

            var eventsConnected = Task.Run(() => sink.ConnectAsync(lifetime.Token));
            using var system = ActorSystem.Create("wasmkata", AkkaConfig(debug));
            var actorsStarted = started.Elapsed;
            using var engine = await engineStarting;
            var sandbox = system.ActorOf(SandboxProtocol.Props(engine, sink, settings, lifetime), "sandbox");
            InspectionHosting.Start(system, new InspectionOptions { ShimId = args.Id, Namespace = args.Namespace, Bundle = bundle });
            await eventsConnected;

            await using var server = new TtrpcServer(listener);
            new TaskService(sandbox, lifetime.RequestExit).Register(server);
            log.Information("serving {Id} on {Socket}, {Ms} ms after the daemon started (config and log {LogMs} ms, actor system {ActorsMs} ms)",
                args.Id, socketPath, (long)started.Elapsed.TotalMilliseconds, (long)beforeStart.TotalMilliseconds,
                (long)(actorsStarted - beforeStart).TotalMilliseconds);
            var serving = server.RunAsync(lifetime.Token);
            await lifetime.Exited;
            // Let the last reply (Shutdown's) leave before the connections close.
            await Task.Delay(50);
            await server.DisposeAsync();
            await CoordinatedShutdown.Get(system).Run(CoordinatedShutdown.ClrExitReason.Instance);
            if (socketPath.Length > 0)
                File.Delete(socketPath);
            log.Information("shim for {Id} exited", args.Id);
            _ = serving;
            return 0;
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

    /// <summary>
    /// A plain actor system, no Microsoft.Extensions.Hosting around it: that saved a good part of the daemon's
    /// start-up, which a cold <c>ctr run</c> waits for. Actor logs go to Serilog.
    /// </summary>
    private static Akka.Configuration.Config AkkaConfig(bool debug) => Akka.Configuration.ConfigurationFactory.ParseString($$"""
        akka {
          loglevel = {{(debug ? "DEBUG" : "INFO")}}
          loggers = ["{{typeof(SerilogAkkaLogger).AssemblyQualifiedName}}"]
          log-dead-letters = off
          log-dead-letters-during-shutdown = off
        }
        """);

    /// <summary>Completes once the actor tree or the Shutdown RPC asks the shim to exit.</summary>
    private sealed class Lifetime : IShimLifetime
    {
        private readonly TaskCompletionSource _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly CancellationTokenSource _cts = new();

        public Task Exited => _exited.Task;

        public CancellationToken Token => _cts.Token;

        public void RequestExit() => _exited.TrySetResult();
    }
}
