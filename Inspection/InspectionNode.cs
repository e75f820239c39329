using System.Diagnostics;
using Akka.Actor;
using Akka.Cluster;
using Akka.Event;

namespace WasmKata.Inspection;

/// <summary>
/// The shim's second, cluster-enabled actor system: it holds only the gateway and the janitor, so the shim's own
/// tree stays unreachable from the wire. With <see cref="InspectionOptions.OnDemand"/> the shim first registers
/// dormant (port 0) with a bell, and starts the system when a CLI rings; otherwise it starts it at once, in the
/// background. Once bound it registers its port; on exit it removes its entry (and bell), leaves and terminates.
/// </summary>
internal sealed class InspectionNode
{
    private static readonly string s_clusterHocon = $$"""
        akka.loggers = ["{{typeof(InspectionLogger).AssemblyQualifiedName}}"]
        akka.loglevel = INFO
        akka.cluster {
          # Members are downed when the directory shows their process is gone (ClusterJanitorActor), never on a
          # timeout: a slow shim is still a shim.
          downing-provider-class = ""
          run-coordinated-shutdown-when-down = off
          seed-node-timeout = 2s
          log-info = off
        }
        # Leaving is done (bounded) before terminating; the shim's exit must not wait on these phases.
        akka.coordinated-shutdown.phases {
          cluster-leave.timeout = 1s
          cluster-exiting.timeout = 1s
          cluster-exiting-done.timeout = 1s
        }
        """;

    private readonly InspectionOptions _options;
    private readonly IActorRef _inspection;
    private readonly ILoggingAdapter _log;
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _gate = new();
    private readonly Task _dormant;
    private Task<Running?>? _running;
    private int _stopped;

    private InspectionNode(InspectionOptions options, IActorRef inspection, ILoggingAdapter log)
    {
        _options = options;
        _inspection = inspection;
        _log = log;
        _dormant = options.OnDemand ? Task.Run(SleepAsync) : Task.CompletedTask;
        if (!options.OnDemand)
            Wake();
    }

    /// <summary>
    /// Registers the shim dormant and waits for a ring, or (not <see cref="InspectionOptions.OnDemand"/>) starts the
    /// inspection system in the background; <paramref name="inspection"/> answers what it forwards.
    /// </summary>
    public static InspectionNode Launch(InspectionOptions options, IActorRef inspection, ILoggingAdapter log) =>
        new(options, inspection, log);

    /// <summary>Whether the inspection system was asked to start (a ring, or <see cref="PortAsync"/>).</summary>
    public bool Awake
    {
        get
        {
            lock (_gate)
                return _running is not null;
        }
    }

    /// <summary>Wakes the node if dormant; completes with the port once bound and registered (null if it did not start).</summary>
    public async Task<int?> PortAsync() => (await Wake())?.Port;

    /// <summary>Removes the entry, leaves the cluster (bounded by <see cref="InspectionOptions.LeaveTimeout"/>) and terminates.</summary>
    public async Task StopAsync()
    {
        if (Interlocked.Exchange(ref _stopped, 1) == 1)
            return;
        await _stop.CancelAsync();
        await _dormant;
        Task<Running?>? started;
        lock (_gate)
            started = _running;
        var running = started is null ? null : await started;
        if (running is null)
            return;
        RemoveQuietly(running.Directory, Environment.ProcessId);
        var cluster = Cluster.Get(running.System);
        if (cluster.State.Members.Any(m => !m.UniqueAddress.Equals(cluster.SelfUniqueAddress)))
        {
            // Others would see this member unreachable for a while before their janitor downs it: leave instead.
            await Task.WhenAny(cluster.LeaveAsync(), Task.Delay(_options.LeaveTimeout));
        }
        await Task.WhenAny(running.System.Terminate(), Task.Delay(TimeSpan.FromSeconds(1)));
        running.Keys.Dispose();
    }

    private Task<Running?> Wake()
    {
        lock (_gate)
            return _running ??= _stop.IsCancellationRequested ? Task.FromResult<Running?>(null) : Task.Run(StartAsync);
    }

    // Dormant: an entry with port 0 and a bell; the first ring starts the system, every ring gets its port.
    private async Task SleepAsync()
    {
        InspectionDirectory directory;
        System.Net.Sockets.Socket bell;
        var pid = Environment.ProcessId;
        try
        {
            directory = InspectionDirectory.Create(_options.Directory);
            bell = InspectionBell.Listen(directory.BellPath(pid));
            Register(directory, 0);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Net.Sockets.SocketException)
        {
            // Inspection is for operators; the containers must run without it.
            _log.Error(e, "inspection cannot register in {0}", _options.Directory);
            return;
        }
        AppDomain.CurrentDomain.ProcessExit += (_, _) => RemoveQuietly(directory, pid);
        await InspectionBell.ServeAsync(bell, directory.BellPath(pid), async () => (await Wake())?.Port, _stop.Token);
        RemoveQuietly(directory, pid);
    }

    private async Task<Running?> StartAsync()
    {
        ActorSystem? system = null;
        InspectionKeys? keys = null;
        try
        {
            _stop.Token.ThrowIfCancellationRequested();
            var watch = Stopwatch.StartNew();
            var directory = InspectionDirectory.Create(_options.Directory);
            keys = directory.LoadOrCreateKeys();
            system = InspectionRemoting.Start(InspectionRemoting.Settings("cluster", s_clusterHocon), keys);
            var port = InspectionRemoting.BoundPort(system);
            var pid = Environment.ProcessId;
            system.ActorOf(GatewayActor.Props(_inspection, keys, pid, port, _options.SnapshotTimeout), InspectionWire.GatewayName);
            Register(directory, port);
            // A shim that dies without stopping leaves its entry to the next lister; one that exits normally cleans up
            // (a dormant one set this up when it registered).
            if (!_options.OnDemand)
                AppDomain.CurrentDomain.ProcessExit += (_, _) => RemoveQuietly(directory, pid);
            system.ActorOf(ClusterJanitorActor.Props(directory, _options.JanitorInterval, 3 * _options.JanitorInterval), "janitor");
            _log.Info("inspection listening on 127.0.0.1:{0}, started in {1} ms", port, watch.ElapsedMilliseconds);
            // Stopped meanwhile: StopAsync awaits this result and takes it down.
            return new Running(system, directory, keys, port);
        }
        catch (OperationCanceledException)
        {
            return null;
        }
        catch (Exception e)
        {
            // Inspection is for operators; the containers must run without it.
            _log.Error(e, "inspection did not start");
            if (system is not null)
                await Task.WhenAny(system.Terminate(), Task.Delay(TimeSpan.FromSeconds(1)));
            keys?.Dispose();
            return null;
        }
    }

    // This shim's entry: dormant (port 0) or listening on port.
    private void Register(InspectionDirectory directory, int port)
    {
        var pid = Environment.ProcessId;
        directory.Register(new ShimEntry(
            pid, InspectionDirectory.ProcessStart(pid), port, _options.ShimId, _options.Namespace, DateTimeOffset.UtcNow));
    }

    private static void RemoveQuietly(InspectionDirectory directory, int pid)
    {
        try
        {
            directory.Remove(pid);
            File.Delete(directory.BellPath(pid));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Exiting anyway; the next lister removes a dead process's entry.
        }
    }

    private sealed record Running(ActorSystem System, InspectionDirectory Directory, InspectionKeys Keys, int Port);
}
