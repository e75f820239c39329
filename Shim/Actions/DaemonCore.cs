using System.Diagnostics;
using System.Net.Sockets;
using Akka.Actor;
using Serilog;
using WasmKata.Actors;
using WasmKata.Actors.Sandbox;
using WasmKata.Actors.WasmProcess;
using WasmKata.Config;
using WasmKata.Core.Bootstrap;
using WasmKata.Engine;
using WasmKata.Inspection;
using WasmKata.Linux;
using WasmKata.Linux.Idmap;
using WasmKata.Linux.Processes;
using WasmKata.Shim.Events;
using WasmKata.Shim.Hosting;
using WasmKata.Shim.Service;
using WasmKata.Shim.Ttrpc;

namespace WasmKata.Shim.Actions;

/// <summary>
/// A shim daemon, in the two halves a spare takes apart: <see cref="StartAsync"/> does what needs no sandbox (the
/// engine, the actor system, the events connection to containerd), <see cref="ServeAsync"/> serves one sandbox's task
/// API on its listening socket until containerd is done with it. A cold daemon runs both at once.
/// </summary>
internal sealed class DaemonCore : IAsyncDisposable
{
    private readonly ShimArgs _args;
    private readonly Lifetime _lifetime;

    private DaemonCore(ShimArgs args, ShimConfig config, WasmEngine engine, ActorSystem system, TtrpcEventSink sink, Lifetime lifetime)
    {
        _args = args;
        Config = config;
        Engine = engine;
        System = system;
        Sink = sink;
        _lifetime = lifetime;
    }

    public ShimConfig Config { get; }

    private SandboxIds? _ids;

    public WasmEngine Engine { get; }

    public ActorSystem System { get; }

    /// <summary>The events connection; a spare watches it to learn that containerd went away.</summary>
    public TtrpcEventSink Sink { get; }

    /// <summary>
    /// The configuration.toml <c>start</c> named (WASMKATA_CONFIG_PATH), or defaults and the reason when it is bad: Create
    /// then refuses containers with that message, the daemon itself runs on defaults.
    /// </summary>
    public static (ShimConfig Config, string? Error) LoadConfig()
    {
        try
        {
            return (ConfigLoader.Load(Environment.GetEnvironmentVariable(StartAction.ConfigEnvironmentVariable)), null);
        }
        catch (ConfigException e)
        {
            return (new ShimConfig(), e.Message);
        }
    }

    /// <summary>Starts Wasmtime's engine, the actor system and the events connection side by side.</summary>
    public static async Task<DaemonCore> StartAsync(ShimArgs args, ShimConfig config, bool debug)
    {
        Self.SetChildSubreaper();
        EngineOptions engineOptions = null!;
        engineOptions = new EngineOptions
        {
            CompileProcess = request => CompileLauncher.Launch(Environment.ProcessPath!, engineOptions, request),
            EpochTick = TimeSpan.FromMilliseconds(config.EpochTickMs),
            ModuleCacheDirectory = config.CompileCacheDir.Length > 0 ? config.CompileCacheDir : null,
            ModuleCacheMaxBytes = config.CompileCacheMaxMb * (1L << 20),
            PoolingAllocator = config.PoolingAllocator,
            BaselineMinBytes = config.BaselineCompileMinMb * (1L << 20),
        };
        // Together these are most of what a cold start waits for. The engine logs through whatever the log is when it
        // writes: a spare opens the sandbox's log only when it is adopted.
        var engineStarting = Task.Run(() => new WasmEngine(engineOptions, ShimLog.Current));
        var sink = new TtrpcEventSink(StartAction.TtrpcAddress(args), args.Namespace);
        var lifetime = new Lifetime();
        var eventsConnected = Task.Run(() => sink.ConnectAsync(lifetime.Token));
        var system = ActorSystem.Create("wasmkata", AkkaConfig(debug));
        var engine = await engineStarting;
        await eventsConnected;
        return new DaemonCore(args, config, engine, system, sink, lifetime);
    }

    /// <summary>
    /// Serves sandbox <paramref name="id"/> (bundle <paramref name="bundle"/>) on <paramref name="listener"/> until its
    /// <see cref="DaemonSupervisor"/> ends it (the last container gone, a Shutdown, a signal, containerd gone) or the
    /// actor tree asks to exit; <paramref name="serving"/> runs once requests are taken. The socket path is released
    /// (only while it still names this socket) as soon as the daemon decides to leave, never deleted by path after.
    /// The log line names the time since <paramref name="since"/>, which <paramref name="started"/> measures.
    /// </summary>
    public async Task<int> ServeAsync(Socket listener, string id, string bundle, ILogger log, Stopwatch started, string since, Action? serving = null)
    {
        var socketPath = listener.LocalEndPoint?.ToString() ?? "";
        var settings = new RuntimeSettings
        {
            DrainTimeout = TimeSpan.FromMilliseconds(Config.DrainTimeoutMs),
            Namespace = _args.Namespace,
            ContainerdAddress = _args.Address,
            GuestHost = Config.GuestIsolation == "process" ? GuestHostSettingsFor(id, log) : null,
        };
        var sandbox = System.ActorOf(SandboxProtocol.Props(Engine, Sink, settings, _lifetime), "sandbox");
        InspectionHosting.Start(System, new InspectionOptions { ShimId = id, Namespace = _args.Namespace, Bundle = bundle });

        var server = new TtrpcServer(listener);
        using var supervisor = new DaemonSupervisor(new DaemonLifecycle(leasedFor: id), sandbox, Sink, log, _lifetime.RequestExit, socketPath, id, bundle)
        {
            BackgroundWorkPending = () => Engine.CacheWritesPending > 0,
        };
        new TaskService(sandbox, supervisor).Register(server);
        new SandboxService(sandbox, supervisor).Register(server);
        supervisor.Attach(server);
        var running = server.RunAsync(_lifetime.Token);
        log.Information("serving {Id} on {Socket}, {Ms} ms after {Since}", id, socketPath, (long)started.Elapsed.TotalMilliseconds, since);
        serving?.Invoke();
        await _lifetime.Exited;
        supervisor.Exiting();
        // Let the last reply (Shutdown's) leave before the connections close; every step below is bounded.
        await Task.Delay(50);
        await Bounded(server.DisposeAsync().AsTask(), TimeSpan.FromSeconds(1), "closing the connections", log);
        await Bounded(CoordinatedShutdown.Get(System).Run(CoordinatedShutdown.ClrExitReason.Instance), TimeSpan.FromSeconds(2), "stopping the actor system", log);
        await FinishCacheWritesAsync(log);
        ReleaseSandboxIds(id, log);
        log.Information("shim for {Id} exited ({Reason})", id, supervisor.ExitReason ?? "asked by the sandbox");
        _ = running;
        return 0;
    }

    /// <summary>
    /// Process isolation: the sandbox's own range of host ids and its idmapping, taken as the daemon starts serving it
    /// (the daemon is the sandbox) and freed once its actors, and with them its containers' mounts and guest hosts, are
    /// gone. When none can be had, every Create is refused with the reason: guests never fall back to a shared uid.
    /// </summary>
    private GuestHostSettings GuestHostSettingsFor(string id, ILogger log)
    {
        var program = GuestHostProgram(log);
        try
        {
            var clock = Stopwatch.StartNew();
            _ids = SandboxIds.Allocate(new IdRangeAllocator((uint)Config.GuestUidBase, Config.GuestUidRanges), id);
            var allocation = _ids.Allocation;
            var ms = clock.Elapsed.TotalMilliseconds;
            if (allocation.ReclaimedFrom is { } previous)
                log.Information("{Id}: guest uid range {Range} reclaimed from sandbox {Previous}, whose daemon is gone ({Ms:F1} ms)", id, allocation.Range, previous, ms);
            else
                log.Information("{Id}: guest uid range {Range} and its user namespace in {Ms:F1} ms", id, allocation.Range, ms);
            return new GuestHostSettings(program, _ids.RootHostId, _ids.RootHostId, Config.GuestHostSeccomp, _ids.UserNamespace);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            log.Error(e, "{Id}: no guest uid range: guest hosts cannot run", id);
            return new GuestHostSettings(program, 0, 0, Config.GuestHostSeccomp,
                Unavailable: $"guest_isolation = \"process\" needs a uid range of its own for sandbox {id}: {e.Message}");
        }
    }

    private void ReleaseSandboxIds(string id, ILogger log)
    {
        try
        {
            _ids?.Dispose();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The slot stays; the allocator reclaims a dead daemon's slot when it needs it.
            log.Warning(e, "{Id}: freeing the guest uid range failed", id);
        }
    }

    /// <summary>
    /// A big module's first start ran Winch code, whose cache entry is written beside the guest; the compile process
    /// for its Cranelift code starts once that entry is there. A daemon whose last container went finishes the write
    /// (so the compile process starts) for at most <see cref="CacheWriteWait"/>, then exits: the compile process does
    /// not keep it.
    /// </summary>
    private async Task FinishCacheWritesAsync(ILogger log)
    {
        var pending = Engine.CacheWritesPending;
        if (pending == 0)
            return;
        log.Information("finishing {Count} compile cache write(s) before exiting (at most {Seconds} s)", pending, (long)CacheWriteWait.TotalSeconds);
        var done = await Task.Run(() => Engine.WaitForCacheWrites(CacheWriteWait));
        if (!done)
            log.Warning("compile cache write(s) still running after {Seconds} s: exiting without them", (long)CacheWriteWait.TotalSeconds);
    }

    private static readonly TimeSpan CacheWriteWait = DaemonSupervisor.BackgroundWorkLimit;

    /// <summary>
    /// wasmkata-guest-host beside this executable, said in the log once: a missing one fails every Create with the same
    /// words (GuestHostChild.Spawn), and the log tells it before the first.
    /// </summary>
    private static string GuestHostProgram(ILogger log)
    {
        var program = GuestHostChild.ProgramBeside(Environment.ProcessPath ?? throw new InvalidOperationException("cannot tell the shim's own path"));
        if (File.Exists(program))
            log.Information("guest hosts: {Program}", program);
        else
            log.Warning("guest_isolation = \"process\" but {Program} is missing: every Create will fail until it is installed beside the shim", program);
        return program;
    }

    private static async Task Bounded(Task step, TimeSpan limit, string what, ILogger log)
    {
        try
        {
            await step.WaitAsync(limit);
        }
        catch (TimeoutException)
        {
            log.Warning("{What} took longer than {Ms} ms: going on", what, (long)limit.TotalMilliseconds);
        }
    }

    /// <summary>Ends what <see cref="StartAsync"/> started (a spare that was never adopted).</summary>
    public async ValueTask DisposeAsync()
    {
        await Bounded(System.Terminate(), TimeSpan.FromSeconds(2), "terminating the actor system", Log.Logger);
        Engine.Dispose();
        await Bounded(Sink.DisposeAsync().AsTask(), TimeSpan.FromSeconds(1), "closing the events connection", Log.Logger);
    }

    /// <summary>
    /// A plain actor system, no Microsoft.Extensions.Hosting around it: that saved a good part of the daemon's
    /// start-up, which a cold <c>ctr run</c> waits for. Actor logs go to Serilog. Timers fire when due and nothing
    /// ticks in between (<see cref="TimerScheduler"/>): an idle daemon wakes no thread.
    /// </summary>
    private static Akka.Configuration.Config AkkaConfig(bool debug) => Akka.Configuration.ConfigurationFactory.ParseString($$"""
        akka {
          loglevel = {{(debug ? "DEBUG" : "INFO")}}
          loggers = ["{{typeof(SerilogAkkaLogger).AssemblyQualifiedName}}"]
          log-dead-letters = off
          log-dead-letters-during-shutdown = off
        }
        {{TimerScheduler.Hocon}}
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
