using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using Akka.Actor;
using Google.Protobuf.WellKnownTypes;
using Serilog;
using WasmKata.Actors;
using WasmKata.Actors.Signals;
using WasmKata.Core.Bootstrap;
using WasmKata.Core.Protos.TaskApi;
using WasmKata.Linux;
using WasmKata.Linux.Processes;
using WasmKata.Shim.Events;
using WasmKata.Shim.Service;
using WasmKata.Shim.Ttrpc;

namespace WasmKata.Shim.Actions;

/// <summary>
/// Drives a serving daemon's <see cref="DaemonLifecycle"/>: answers <c>start</c>'s claims, gates Create and Shutdown,
/// asks the sandbox whether it may exit whenever that could have changed (Shutdown, the last connection closing, a
/// lease running out) and asks again for a while after a "not yet", ends the daemon on SIGTERM/SIGINT or when
/// containerd is gone (no connection and every bundle removed), and bounds every exit path in time. Leaving Serving
/// always first unlinks the socket path (only while it names this daemon's socket) and stops listening.
/// </summary>
internal sealed partial class DaemonSupervisor : IShimGate, IDisposable
{
    /// <summary>After SIGTERM (or containerd gone) the orderly stop gets this long before the teardown starts anyway.</summary>
    public static readonly TimeSpan OrderlyStopBudget = TimeSpan.FromMilliseconds(1000);

    /// <summary>After SIGTERM the process ends by this time whatever still runs.</summary>
    public static readonly TimeSpan SignalHardLimit = TimeSpan.FromMilliseconds(1800);

    /// <summary>After a drain begins (Shutdown), the process ends by this time whatever still runs.</summary>
    public static readonly TimeSpan DrainHardLimit = TimeSpan.FromSeconds(5);

    // Asks again after a "not yet": the deleted container may leave the sandbox's map just after Delete was answered.
    private static readonly int[] RecheckDelaysMs = [25, 50, 100, 200, 400, 800, 1600];
    private static readonly TimeSpan SandboxAnswerTimeout = TimeSpan.FromSeconds(5);

    private readonly DaemonLifecycle _lifecycle;
    private readonly IActorRef _sandbox;
    private readonly TtrpcEventSink? _sink;
    private readonly ILogger _log;
    private readonly Action _requestExit;
    private readonly string _socketPath;
    private readonly FileIdentity? _socketIdentity;
    private readonly ConcurrentDictionary<string, string> _bundles = new(StringComparer.Ordinal);
    private readonly List<PosixSignalRegistration> _signals = [];
    private readonly List<IDisposable> _timers = [];
    private FileSystemWatcher? _bundleWatcher;
    private TtrpcServer? _server;
    private int _released;
    private long _creates;

    public DaemonSupervisor(
        DaemonLifecycle lifecycle, IActorRef sandbox, TtrpcEventSink? sink, ILogger log, Action requestExit, string socketPath, string id, string bundle)
    {
        _lifecycle = lifecycle;
        _sandbox = sandbox;
        _sink = sink;
        _log = log;
        _requestExit = requestExit;
        _socketPath = socketPath;
        // start bound it a moment ago and it listens, so no other start can have replaced it: it is ours.
        _socketIdentity = socketPath.Length > 0 ? SocketFile.Identify(socketPath) : null;
        if (bundle.Length > 0)
            _bundles[id] = bundle;
        WatchBundles(bundle);
    }

    public DaemonState State => _lifecycle.State;

    /// <summary>Why the daemon left Serving, once it did.</summary>
    public string? ExitReason => _lifecycle.ExitReason;

    /// <summary>Serves the claims on <paramref name="server"/>, counts its connections, and takes SIGTERM/SIGINT.</summary>
    public void Attach(TtrpcServer server)
    {
        _server = server;
        server.ConnectionOpened = _lifecycle.ConnectionOpened;
        server.ConnectionClosed = () =>
        {
            if (_lifecycle.ConnectionClosed())
                _ = CheckAsync("containerd's last connection closed", lookForContainerd: true);
        };
        server.Register<ConnectRequest, Empty>(ShimSocket.LifecycleService, ShimSocket.ClaimMethod, async (request, _) =>
        {
            await ClaimAsync(request.Id);
            return new Empty();
        });
        foreach (var signal in new[] { PosixSignal.SIGTERM, PosixSignal.SIGINT })
        {
            _signals.Add(PosixSignalRegistration.Create(signal, context =>
            {
                context.Cancel = true;
                Terminate(context.Signal.ToString());
            }));
        }
    }

    /// <summary>A claim from <c>start</c>: holds the daemon for its container, or Unavailable when it is leaving.</summary>
    public async Task ClaimAsync(string id)
    {
        while (true)
        {
            switch (_lifecycle.Claim(id))
            {
                case ClaimOutcome.Granted:
                    // When its Create never comes, look again once the lease is over.
                    After(DaemonLifecycle.LeaseTime + TimeSpan.FromMilliseconds(100), () => _ = CheckAsync("a claim's lease ran out", lookForContainerd: true));
                    return;
                case ClaimOutcome.Refused:
                    throw new TtrpcException(StatusCode.Unavailable, "the shim is exiting");
                default:
                    await _lifecycle.Decided;
                    break;
            }
        }
    }

    public async Task<bool> ShutdownAsync(string id, CancellationToken cancellationToken)
    {
        _lifecycle.Release(id);
        var result = await CheckOnceAsync("containerd's Shutdown");
        if (result == CheckResult.NotYet)
            _ = RecheckAsync("containerd's Shutdown (asked again)");
        return result == CheckResult.Exiting;
    }

    public async Task SandboxShutDownAsync(string id, CancellationToken cancellationToken)
    {
        _lifecycle.Release(id);
        // containerd sends nothing more after it (it closes the connection and removes the bundle): a container
        // still there, or a claim whose Create never came, must not keep the daemon alive.
        if (await CheckOnceAsync("containerd's ShutdownSandbox") != CheckResult.Exiting)
            Terminate("containerd's ShutdownSandbox, with containers left");
    }

    public async Task<T> CreateAsync<T>(string id, string bundle, Func<Task<T>> create)
    {
        while (true)
        {
            var outcome = _lifecycle.BeginCreate(id);
            if (outcome == ClaimOutcome.Granted)
                break;
            if (outcome == ClaimOutcome.Refused)
                throw new TtrpcException(StatusCode.Unavailable, "the shim is exiting");
            await _lifecycle.Decided;
        }

        Interlocked.Increment(ref _creates);
        try
        {
            if (bundle.Length > 0)
                _bundles[id] = bundle;
            return await create();
        }
        finally
        {
            _lifecycle.EndCreate();
        }
    }

    public void Deleted(string id, string execId)
    {
        if (execId.Length == 0)
            _bundles.TryRemove(id, out _);
    }

    /// <summary>
    /// Ends the daemon now, from any state: releases the socket, gives up on events containerd cannot take, stops the
    /// sandbox in order (it kills the guests), and bounds it all: the teardown starts after
    /// <see cref="OrderlyStopBudget"/> and the process ends by <see cref="SignalHardLimit"/>.
    /// </summary>
    public void Terminate(string reason)
    {
        if (!_lifecycle.Terminate(reason))
            return;
        _log.Information("exiting: {Reason}", reason);
        ReleaseSocket();
        _sink?.Abandon();
        _sandbox.Tell(new SignalWatcherProtocol.ShutdownSignalled(PosixSignal.SIGTERM));
        After(OrderlyStopBudget, _requestExit);
        HardExitAfter(SignalHardLimit, reason);
    }

    /// <summary>The daemon's wait is over (drained or terminated): bound what is left of it.</summary>
    public void Exiting()
    {
        var first = _lifecycle.State != DaemonState.Exiting;
        _lifecycle.Drained();
        ReleaseSocket();
        if (first)
            HardExitAfter(DrainHardLimit, _lifecycle.ExitReason ?? "drained", DateTime.UtcNow + BackgroundWorkLimit);
    }

    /// <summary>
    /// Whether the daemon still writes a big module's Winch code to the compile cache (then starts its compile
    /// process): a drained daemon's hard exit waits for it, up to <see cref="BackgroundWorkLimit"/> (a signal's does
    /// not). The Cranelift compile itself is a process of its own that no daemon waits for.
    /// </summary>
    public Func<bool> BackgroundWorkPending { get; init; } = () => false;

    /// <summary>The longest a drained daemon stays for its background work (a write of ~0.6 s for a 30 MB module here).</summary>
    public static readonly TimeSpan BackgroundWorkLimit = TimeSpan.FromSeconds(15);

    private enum CheckResult
    {
        Exiting,
        NotYet,
        Skipped,
    }

    /// <summary>One check and, after a "not yet", more with growing pauses while nothing new arrived.</summary>
    private async Task CheckAsync(string reason, bool lookForContainerd = false)
    {
        var result = await CheckOnceAsync(reason);
        // The bundle may have gone before the last connection closed (the watcher then saw a connection still open):
        // look now, not only after the rechecks (~3 s).
        if (lookForContainerd && result != CheckResult.Exiting)
            LookForContainerd();
        if (result == CheckResult.NotYet && _lifecycle.State == DaemonState.Serving)
            await RecheckAsync(reason, lookForContainerd);
    }

    private async Task RecheckAsync(string reason, bool lookForContainerd = false)
    {
        var creates = Interlocked.Read(ref _creates);
        foreach (var delay in RecheckDelaysMs)
        {
            await Task.Delay(delay);
            if (Interlocked.Read(ref _creates) != creates)
                return; // A new container came: its own Shutdown will ask.
            if (await CheckOnceAsync(reason) != CheckResult.NotYet)
                return;
        }

        if (lookForContainerd || _lifecycle.Connections == 0)
            LookForContainerd();
    }

    private async Task<CheckResult> CheckOnceAsync(string reason)
    {
        while (!_lifecycle.TryBeginCheck())
        {
            if (_lifecycle.State != DaemonState.Serving)
                return CheckResult.Exiting;
            var decided = _lifecycle.Decided;
            if (decided.IsCompleted)
                return CheckResult.Skipped; // A lease or a Create in flight holds the daemon.
            await decided;
        }

        var empty = false;
        try
        {
            var answer = await _sandbox.Ask<object>(new TaskProtocol.RequestShutdown(), SandboxAnswerTimeout);
            empty = answer is TaskProtocol.ShutdownAnswer { Exiting: true };
        }
        catch (Exception e) when (e is AskTimeoutException or TaskCanceledException)
        {
            _log.Warning("the sandbox did not answer whether the shim may exit ({Reason})", reason);
        }

        if (!_lifecycle.EndCheck(empty, reason))
            return CheckResult.NotYet;
        _log.Information("draining: {Reason}", reason);
        ReleaseSocket();
        _requestExit();
        return CheckResult.Exiting;
    }

    /// <summary>Unlinks the socket path if it still names our socket, then stops listening. Once.</summary>
    private void ReleaseSocket()
    {
        if (Interlocked.Exchange(ref _released, 1) != 0)
            return;
        if (_socketIdentity is { } identity)
            SocketFile.UnlinkIfSame(_socketPath, identity);
        _server?.StopAccepting();
    }

    private void After(TimeSpan delay, Action action)
    {
        var timer = new Timer(_ => action(), null, delay, Timeout.InfiniteTimeSpan);
        lock (_timers)
            _timers.Add(timer);
    }

    private void HardExitAfter(TimeSpan limit, string reason, DateTime? holdUntil = null) => After(limit, () =>
    {
        if (holdUntil is { } until && DateTime.UtcNow < until && BackgroundWorkPending())
        {
            HardExitAfter(limit, reason, until);
            return;
        }
        _log.Warning("the shim did not end within {Ms} ms of {Reason}: exiting now", (long)limit.TotalMilliseconds, reason);
        Task.Run(Log.CloseAndFlush).Wait(TimeSpan.FromMilliseconds(100));
        Self.ExitImmediately(0);
    });

    public void Dispose()
    {
        foreach (var registration in _signals)
            registration.Dispose();
        _bundleWatcher?.Dispose();
    }
}
