using System.Globalization;
using Akka.Actor;
using WasmKata.Actors.Io;
using WasmKata.Core;
using WasmKata.Core.Plan;
using WasmKata.Engine;
using WasmKata.Linux.Idmap;
using WasmKata.Linux.Io;
using WasmKata.Linux.Namespaces;
using WasmKata.Linux.Processes;

namespace WasmKata.Actors.WasmProcess;

/// <summary>
/// One guest in a guest host process of its own (docs/guest-host.md, guest_isolation = "process"):
/// wasmkata-guest-host (installed beside the shim) in <c>guest-host</c> mode, confined, talking lines over two pipes. A kill that the guest host does not
/// carry out within a grace becomes SIGKILL of the process, which ends a guest blocked anywhere in Wasmtime; signals,
/// pause, CPU time and memory come from the kernel. A guest host that dies without a report, is killed by a signal the
/// daemon did not send, or writes junk turns into a 255 exit of its guest, never a hung actor. No thread of the daemon
/// belongs to it: its report and output pipes and its pidfd are waited for on the shared fd reactor (one epoll thread
/// for every guest host), the spawn runs on the one spawner thread, and the deadlines are timers.
/// </summary>
internal sealed class GuestProcess : IGuestRunner
{
    /// <summary>How long a component may take to end after a kill before its guest host is SIGKILLed.</summary>
    public static readonly TimeSpan ComponentKillGrace = TimeSpan.FromMilliseconds(50);

    /// <summary>The same for a core module, which ends at its next epoch check (10 ms) unless its host is stopped or stuck.</summary>
    public static readonly TimeSpan CoreKillGrace = TimeSpan.FromMilliseconds(500);

    /// <summary>How long a guest host may take to load, compile and instantiate before it is given up.</summary>
    public static readonly TimeSpan ReadyTimeout = TimeSpan.FromMinutes(2);

    /// <summary>How long a stats request waits for the guest host's answer before the last figure is given instead.</summary>
    public static readonly TimeSpan StatsTimeout = TimeSpan.FromMilliseconds(100);

    private readonly Lock _lock = new();
    private readonly IActorRef _owner;
    private GuestHostChild? _child;
    private int _killSignal;
    private bool _sentSigkill;
    private string? _sigkillReason;
    private bool _paused;
    private bool _ready;
    private bool _reportsEnded;
    private TimeSpan _grace = CoreKillGrace;
    private Timer? _escalation;
    private long _memoryBytes;
    private long _cpuNs;

    // Stats requests sent and answered: answers come in order, one per request, so counts pair them.
    private readonly object _statsGate = new();
    private long _statsAsked;
    private long _statsAnswered;

    private GuestProcess(IActorRef owner) => _owner = owner;

    /// <summary>How long a guest host may live on after closing its report pipe before it is SIGKILLed.</summary>
    public static readonly TimeSpan ExitAfterReportTimeout = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Spawns the guest host (on <see cref="GuestHostSpawner"/>'s thread) and follows it on the fd reactor; see <see cref="GuestThread.Launch"/>.
    /// Output goes into <paramref name="stdout"/> and <paramref name="stderr"/>, which are awaited for room (back-pressure).
    /// </summary>
    public static GuestProcess Launch(
        WasmEngine engine, GuestHostSettings host, string modulePath, GuestConfig config, GuestInputPipe? stdin, OutputBuffer? stdout,
        OutputBuffer? stderr, IActorRef owner, Action afterSpawn, string name, SandboxNamespaces namespaces, GuestCpuLimit? cpu)
    {
        var process = new GuestProcess(owner);
        var files = new GuestHostFiles(config.RootfsPath, modulePath, stdin, stdout is not null, stderr is not null,
            stdout is not null && ReferenceEquals(stdout, stderr), config.Preopens.Select(p => p.HostPath).ToList(), namespaces,
            host.Idmap, config.Preopens.Select(p => p.ReadOnly).ToList());
        _ = process.RunAsync(engine, name, host, files, config, cpu, stdout, stderr, afterSpawn);
        return process;
    }

    public void Start() => Command("start");

    public void Kill(int signal)
    {
        lock (_lock)
        {
            if (_killSignal == 0)
                _killSignal = signal;
            if (_child is null)
                return; // applied once it is spawned
        }
        Deliver();
    }

    public void Pause()
    {
        lock (_lock)
        {
            if (_child?.Signal(SignalNumber.Stop) == true)
                _paused = true;
        }
    }

    public void Resume()
    {
        lock (_lock)
        {
            _child?.Signal(SignalNumber.Cont);
            _paused = false;
        }
    }

    public void UpdateLimits(long? memoryLimitBytes, GuestCpuLimit? cpu)
    {
        var memory = memoryLimitBytes is { } m ? m.ToString(CultureInfo.InvariantCulture) : "none";
        var quota = cpu is null ? "none" : string.Create(CultureInfo.InvariantCulture, $"{cpu.QuotaUs}:{cpu.PeriodUs}");
        Command($"limits {memory} {quota}");
    }

    /// <summary>
    /// The guest's linear memory, as the guest host answers a <c>stats</c> line (what a guest thread reports too; the
    /// guest host's own resident memory is in the sandbox cgroup's figures). Waits <see cref="StatsTimeout"/> at most,
    /// and does not ask a guest host that is not ready, paused or done: the last figure then.
    /// </summary>
    public long MemoryBytes
    {
        get
        {
            AskStats();
            return Interlocked.Read(ref _memoryBytes);
        }
    }

    /// <summary>The guest host's CPU time, user and system (kept after it ended).</summary>
    public long CpuTimeNs
    {
        get
        {
            Refresh();
            return Interlocked.Read(ref _cpuNs);
        }
    }

    private void Refresh()
    {
        var child = Volatile.Read(ref _child);
        if (child is null)
            return;
        var cpu = child.CpuNs();
        if (cpu > 0)
            Interlocked.Exchange(ref _cpuNs, cpu);
    }

    private void AskStats()
    {
        lock (_lock)
        {
            if (_child is null || !_ready || _paused || _reportsEnded)
                return;
        }
        long ticket;
        lock (_statsGate)
            ticket = ++_statsAsked;
        Command("stats");
        var deadline = Environment.TickCount64 + (long)StatsTimeout.TotalMilliseconds;
        lock (_statsGate)
        {
            while (_statsAnswered < ticket)
            {
                var left = deadline - Environment.TickCount64;
                if (left <= 0 || !Monitor.Wait(_statsGate, (int)left))
                    return;
            }
        }
    }

    private void StatsAnswered(long memoryBytes)
    {
        Interlocked.Exchange(ref _memoryBytes, memoryBytes);
        lock (_statsGate)
        {
            _statsAnswered++;
            Monitor.PulseAll(_statsGate);
        }
    }

    // A kill: SIGKILL at once for 9 (or a stopped guest host, which could not act on a line), else the line and, after
    // the grace, SIGKILL. The grace starts only once the guest host is ready: before, it may be compiling.
    private void Deliver()
    {
        int signal;
        lock (_lock)
        {
            signal = _killSignal;
            if (signal == 0 || _child is null)
                return;
            if (signal == SignalNumber.Kill || _paused)
            {
                SigkillLocked();
                return;
            }
        }
        Command($"kill {signal.ToString(CultureInfo.InvariantCulture)}");
        lock (_lock)
        {
            if (_ready && _escalation is null)
                _escalation = new Timer(_ => Escalate(), null, _grace, Timeout.InfiniteTimeSpan);
        }
    }

    private void Escalate(string? reason = null)
    {
        lock (_lock)
        {
            _sigkillReason ??= reason;
            SigkillLocked();
        }
    }

    private void SigkillLocked()
    {
        if (_child?.Signal(SignalNumber.Kill) == true)
            _sentSigkill = true;
    }

    private void Command(string line)
    {
        lock (_lock)
        {
            if (_child is null)
                return;
            try
            {
                _child.Control.Write(System.Text.Encoding.UTF8.GetBytes(line + "\n"));
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException)
            {
                // The guest host is gone or going: its exit is on its way through the report pipe and waitid.
            }
        }
    }

    private async Task RunAsync(
        WasmEngine engine, string name, GuestHostSettings host, GuestHostFiles files, GuestConfig config, GuestCpuLimit? cpu,
        OutputBuffer? stdout, OutputBuffer? stderr, Action afterSpawn)
    {
        // The daemon compiles (or finds in its cache) and checks the code; the guest host gets the entry read-only.
        CompiledEntry? compiled;
        try
        {
            compiled = await PrepareAsync(engine, files.ModulePath, name).ConfigureAwait(false);
        }
        catch (InvalidModuleException e)
        {
            afterSpawn();
            _owner.Tell(new WasmProcessProtocol.GuestFailed(FailureCode.InvalidArgument, e.Message));
            return;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or Wasmtime.WasmtimeException)
        {
            // The guest host compiles it itself, as without a cache.
            compiled = null;
        }
        catch (Exception e)
        {
            // Our bug, not the module's: the Create fails with it rather than leave the actor waiting for a report.
            afterSpawn();
            _owner.Tell(new WasmProcessProtocol.GuestFailed(FailureCode.Internal, $"cannot prepare the code for a guest host: {e.Message}"));
            return;
        }
        GuestHostChild child;
        try
        {
            using (compiled)
            {
                var withEntry = files with { CompiledEntry = compiled?.Handle };
                child = await GuestHostSpawner.SpawnAsync(
                    host.Program, withEntry, fds => Argv(host, engine.Options, config, cpu, files, fds, compiled?.Digest)).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or InvalidOperationException)
        {
            _owner.Tell(new WasmProcessProtocol.GuestFailed(FailureCode.Internal, $"cannot start a guest host: {e.Message}"));
            return;
        }
        finally
        {
            afterSpawn();
        }
        lock (_lock)
            _child = child;
        Deliver();

        var exited = false;
        var readyTimer = new Timer(_ => Escalate($"it was not ready within {ReadyTimeout.TotalSeconds:F0} s"), null, ReadyTimeout, Timeout.InfiniteTimeSpan);
        try
        {
            var copies = Task.WhenAll(
                GuestHostStreams.CopyAsync(child.Stdout, stdout),
                GuestHostStreams.CopyAsync(child.Stderr, ReferenceEquals(stdout, stderr) ? null : stderr));
            var reports = await ReadReportsAsync(child, readyTimer).ConfigureAwait(false);
            lock (_lock)
                _reportsEnded = true;
            lock (_statsGate)
                Monitor.PulseAll(_statsGate);
            Refresh(); // a zombie still shows its CPU time
            ChildExit exit;
            // A guest host that closed its report pipe has nothing left to do: one that lingers is ended. Its guest's
            // reported status still counts then: the guest had ended, only the runtime around it had not.
            var lingered = 0;
            using (new Timer(_ =>
                   {
                       Volatile.Write(ref lingered, 1);
                       Escalate("it closed its report pipe but did not exit");
                   }, null, ExitAfterReportTimeout, Timeout.InfiniteTimeSpan))
            {
                exit = await child.WaitForExitAsync().ConfigureAwait(false);
            }
            exited = true;
            if (Volatile.Read(ref lingered) == 1 && exit.Signal == SignalNumber.Kill && reports.Junk is null && reports.Status is { } reported)
                exit = new ChildExit(reported, null);
            await copies.ConfigureAwait(false);
            lock (_lock)
                _escalation?.Dispose();
            Conclude(child.Pid, reports, exit);
        }
        catch (Exception e)
        {
            // Our bug, not the guest's: the guest host is ended and its guest exits 255, the daemon serves on.
            Escalate("internal error");
            Finish(ExitStatus.Internal, "internal error: " + e.Message);
        }
        finally
        {
            await readyTimer.DisposeAsync().ConfigureAwait(false);
            if (!exited)
                await ReapAfterFailureAsync(child).ConfigureAwait(false);
            child.Dispose();
        }
    }

    // After an internal error the guest host has been SIGKILLed: reap it so neither a zombie nor its pidfd stays.
    private static async Task ReapAfterFailureAsync(GuestHostChild child)
    {
        try
        {
            using var patience = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await child.WaitForExitAsync(patience.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException or InvalidOperationException)
        {
            // Dispose below kills it again; it stays claimed rather than be reaped under another owner.
        }
    }

    private sealed class Reports
    {
        public bool Ready;
        public int? Status;
        public string? Trap;
        public (FailureCode Code, string Message)? Failure;
        public string? Junk;
    }

    private async Task<Reports> ReadReportsAsync(GuestHostChild child, Timer readyTimer)
    {
        var reports = new Reports();
        var lines = new GuestHostStreams.LineReader(child.Report);
        try
        {
            while (await lines.ReadLineAsync().ConfigureAwait(false) is ({ } line, var tooLong))
            {
                if (tooLong)
                {
                    reports.Junk = $"a line of more than {GuestHostStreams.MaxReportLine} bytes: {line[..200]}";
                    Escalate("it wrote junk");
                    return reports;
                }
                var space = line.IndexOf(' ', StringComparison.Ordinal);
                var (word, rest) = space < 0 ? (line, "") : (line[..space], line[(space + 1)..]);
                switch (word)
                {
                    case "ready" when !reports.Ready:
                        reports.Ready = true;
                        readyTimer.Change(Timeout.Infinite, Timeout.Infinite);
                        lock (_lock)
                        {
                            _ready = true;
                            _grace = rest == "component" ? ComponentKillGrace : CoreKillGrace;
                        }
                        _owner.Tell(new WasmProcessProtocol.GuestReady((uint)child.Pid));
                        Deliver();
                        break;
                    case "invalid" or "error" when !reports.Ready:
                        reports.Failure = (word == "invalid" ? FailureCode.InvalidArgument : FailureCode.Internal, rest);
                        break;
                    case "trap":
                        reports.Trap = rest;
                        break;
                    case "oom" when rest.Split(' ') is [var memory, var limit]
                                    && long.TryParse(memory, CultureInfo.InvariantCulture, out var m)
                                    && long.TryParse(limit, CultureInfo.InvariantCulture, out var l):
                        _owner.Tell(new WasmProcessProtocol.GuestOom(m, l));
                        break;
                    case "stats" when long.TryParse(rest, NumberStyles.None, CultureInfo.InvariantCulture, out var memoryBytes):
                        StatsAnswered(memoryBytes);
                        break;
                    case "exit" when int.TryParse(rest, NumberStyles.None, CultureInfo.InvariantCulture, out var status):
                        reports.Status = status;
                        break;
                    default:
                        reports.Junk = line.Length > 200 ? line[..200] : line;
                        Escalate("it wrote junk");
                        return reports;
                }
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            reports.Junk = $"unreadable report pipe: {e.Message}";
            Escalate("its report pipe broke");
        }
        return reports;
    }

    private void Conclude(int pid, Reports reports, ChildExit exit)
    {
        int killSignal;
        bool sentSigkill;
        string? sigkillReason;
        lock (_lock)
        {
            killSignal = _killSignal;
            sentSigkill = _sentSigkill;
            sigkillReason = _sigkillReason;
        }
        var killedByUs = exit.Signal == SignalNumber.Kill && sentSigkill && killSignal != 0 && sigkillReason is null;
        if (!reports.Ready)
        {
            if (killedByUs)
            {
                // Killed while it was being prepared: as a guest thread does, it was ready and ended by the kill.
                _owner.Tell(new WasmProcessProtocol.GuestReady((uint)pid));
                Finish(ExitStatus.Signalled(killSignal), null);
                return;
            }
            var (code, message) = reports.Failure
                ?? (FailureCode.Internal, $"the guest host (pid {pid}) ended before its guest was ready: {Describe(exit, reports, sigkillReason)}");
            _owner.Tell(new WasmProcessProtocol.GuestFailed(code, message));
            return;
        }
        // A guest that ends on its own after a kill was sent ends because of it, as a guest thread does (its next host
        // call sees the kill): the kill also closes its stdin, and EOF may reach it before the kill line does.
        if (killedByUs || (killSignal != 0 && reports.Junk is null && exit.Signal is null && reports.Status is not null))
            Finish(ExitStatus.Signalled(killSignal), null);
        else if (reports.Junk is null && exit.Signal is null && reports.Status is { } status)
            Finish(status, reports.Trap);
        else
            Finish(ExitStatus.Internal, $"guest host (pid {pid}) failed: {Describe(exit, reports, sigkillReason)}");
    }

    private static string Describe(ChildExit exit, Reports reports, string? sigkillReason)
    {
        if (reports.Junk is { } junk)
            return $"it wrote junk to its report pipe: \"{junk}\"";
        if (sigkillReason is not null && exit.Signal == SignalNumber.Kill)
            return $"killed by the shim: {sigkillReason}";
        return exit.Signal switch
        {
            SignalNumber.Sys => "killed by SIGSYS (a system call outside its seccomp list)",
            { } signal => $"killed by signal {signal}, not sent by the shim",
            _ => reports.Status is null ? $"{exit} without reporting its guest's exit" : exit.ToString(),
        };
    }

    private void Finish(int status, string? trap) =>
        _owner.Tell(new WasmProcessProtocol.GuestFinished(status, trap, DateTimeOffset.UtcNow));

    // A module new to the cache is compiled here, on a thread of its own with a guest thread's stack (Cranelift
    // recurses deeply), not on the reactor or a pool thread; a cached one is only opened and checked.
    private static Task<CompiledEntry?> PrepareAsync(WasmEngine engine, string modulePath, string name)
    {
        var done = new TaskCompletionSource<CompiledEntry?>(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                done.SetResult(engine.PrepareCompiledEntry(modulePath));
            }
            catch (Exception e)
            {
                done.SetException(e);
            }
        }, 8 << 20)
        {
            IsBackground = true,
            Name = name,
        };
        thread.Start();
        return done.Task;
    }

    private static List<string> Argv(
        GuestHostSettings host, EngineOptions engine, GuestConfig config, GuestCpuLimit? cpu, GuestHostFiles files, GuestHostFdNumbers fds, string? digest)
    {
        static string N(long value) => value.ToString(CultureInfo.InvariantCulture);
        var argv = new List<string>
        {
            host.Program, "guest-host", "-uid", N(host.Uid), "-gid", N(host.Gid),
            "-report-fd", N(GuestHostFdNumbers.Report), "-control-fd", N(GuestHostFdNumbers.Control),
            "-rootfs-fd", N(GuestHostFdNumbers.Rootfs), "-module-fd", N(GuestHostFdNumbers.Module),
            "-stdout-fd", N(GuestHostFdNumbers.Stdout), "-stderr-fd", N(GuestHostFdNumbers.Stderr),
            "-cwd", config.Cwd, "-seccomp", host.Seccomp,
        };
        if (config.RootfsReadOnly)
            argv.Add("-rootfs-readonly");
        if (files.Stdin is not null)
            argv.Add("-stdin");
        if (config.MemoryLimitBytes is { } limit)
            argv.AddRange(["-memory-limit", N(limit)]);
        if (cpu is not null)
            argv.AddRange(["-cpu", $"{N(cpu.QuotaUs)}:{N(cpu.PeriodUs)}"]);
        foreach (var fd in fds.NamespaceFds)
            argv.AddRange(["-ns-fd", N(fd)]);
        for (var i = 0; i < config.Preopens.Count; i++)
            argv.AddRange(["-preopen", $"{N(fds.PreopenFds[i])}:{(config.Preopens[i].ReadOnly ? "ro" : "rw")}:{config.Preopens[i].GuestPath}"]);
        if (fds.CompiledFd >= 0 && digest is not null)
            argv.AddRange(["-compiled", $"{N(fds.CompiledFd)}:{digest}"]);
        // The engine settings an entry's code depends on: the guest host's engine must match the daemon's exactly.
        if (engine.PoolingAllocator)
            argv.AddRange(["-pooling", $"{N(engine.PoolingMaxInstances)}:{N(engine.PoolingMaxMemoryBytes)}"]);
        if (config.OutgoingHttp)
            argv.Add("-http");
        foreach (var (key, value) in config.Env)
            argv.AddRange(["-env", $"{key}={value}"]);
        argv.Add("--");
        argv.AddRange(config.Args);
        return argv;
    }
}

/// <summary>How the daemon starts guest hosts.</summary>
/// <param name="Program">wasmkata-guest-host beside the shim (GuestHostChild.ProgramBeside).</param>
/// <param name="Uid">The host uid guest hosts run as: the sandbox\'s range root.</param>
/// <param name="Gid">The host gid guest hosts run as.</param>
/// <param name="Seccomp">The guest host's seccomp default: errno, kill or log.</param>
/// <param name="Idmap">The sandbox's idmapping, through which containers' rootfs and bind mounts reach guest hosts;
/// null: unmapped (specs that run a guest host as a plain uid).</param>
/// <param name="Unavailable">Why the sandbox has no ids of its own (no free range, no user namespace): every Create is
/// refused with it, rather than running guests as a shared uid.</param>
public sealed record GuestHostSettings(
    string Program, uint Uid, uint Gid, string Seccomp = "errno", IdmapUserNamespace? Idmap = null, string? Unavailable = null);

/// <summary>The sandbox cannot run guest hosts (its id range or user namespace could not be had); the reason says why.</summary>
public sealed class GuestHostUnavailableException(string message) : Exception(message);
