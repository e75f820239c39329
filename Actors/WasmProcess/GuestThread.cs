using Akka.Actor;
using WasmKata.Core;
using WasmKata.Core.Plan;
using WasmKata.Engine;
using WasmKata.Linux.Namespaces;
using LinuxSelf = WasmKata.Linux.Self;

namespace WasmKata.Actors.WasmProcess;

/// <summary>
/// The one OS thread of a guest: it loads and instantiates the module (so a bad module fails Create), waits for
/// Start, runs the guest and reports back to its owner by message. Its thread id is the process's pid.
/// </summary>
/// <remarks>
/// A WASI 0.2 component that waits in Wasmtime's own host (a clock sleep) cannot be woken by a kill: Wasmtime's
/// synchronous WASI 0.2 host blocks the thread in its own timer. So a kill of a component that has not ended within
/// <see cref="ComponentKillGrace"/> is reported as done (128 + signal) at once, and the thread is left to end on its
/// own: its outputs are aborted and its stdin closed, and when its wait ends it traps at its first epoch check and
/// releases its store. Until then it holds its thread and store (no CPU: it is blocked).
/// </remarks>
internal sealed class GuestThread : IGuestRunner
{
    /// <summary>How long a killed component may take to end before its kill is reported without it.</summary>
    public static readonly TimeSpan ComponentKillGrace = TimeSpan.FromMilliseconds(50);

    private readonly ManualResetEventSlim _gate = new();
    private readonly Lock _lock = new();
    private Guest? _guest;
    private int _killSignal;
    private IActorRef _owner = ActorRefs.Nobody;
    private int _finishReported;
    private Timer? _abandon;

    private GuestThread()
    {
    }

    /// <summary>Starts the thread; it tells <paramref name="owner"/> <see cref="WasmProcessProtocol.GuestReady"/> or
    /// <see cref="WasmProcessProtocol.GuestFailed"/>, then after Start <see cref="WasmProcessProtocol.GuestFinished"/>.</summary>
    public static GuestThread Launch(
        WasmEngine engine, string modulePath, GuestConfig config, GuestStdio stdio, IActorRef owner, Action afterInstantiate, string name,
        SandboxNamespaces namespaces, GuestCpuLimit? cpu = null)
    {
        var guestThread = new GuestThread { _owner = owner };
        var thread = new Thread(() => guestThread.Body(engine, modulePath, config, stdio, owner, afterInstantiate, namespaces, cpu), 8 << 20)
        {
            IsBackground = true,
            Name = name,
        };
        thread.Start();
        return guestThread;
    }

    /// <summary>Lets the guest run.</summary>
    public void Start() => _gate.Set();

    /// <summary>Ends the guest with <paramref name="signal"/>, before or after Start; idempotent.</summary>
    public void Kill(int signal)
    {
        Guest? guest;
        lock (_lock)
        {
            if (_killSignal == 0)
                _killSignal = signal;
            guest = _guest;
        }
        guest?.Kill(signal);
        _gate.Set();
        if (guest is { Module.Kind: WasmKind.Component })
            AbandonAfterGrace(signal);
    }

    /// <summary>The guest's current linear memory, for stats.</summary>
    public long MemoryBytes => Volatile.Read(ref _guest)?.MemoryBytes ?? 0;

    /// <summary>CPU time the guest used running, in ns (kept after it ended), for stats.</summary>
    public long CpuTimeNs => Volatile.Read(ref _guest)?.CpuTimeNs ?? 0;

    /// <summary>Stops the guest from executing (no CPU) until <see cref="Resume"/>; a no-op once it ended.</summary>
    public void Pause() => Volatile.Read(ref _guest)?.Pause();

    /// <summary>Lets a paused guest run on.</summary>
    public void Resume() => Volatile.Read(ref _guest)?.Resume();

    /// <summary>Changes the memory limit (null: unlimited) and the CPU quota (null: unlimited).</summary>
    public void UpdateLimits(long? memoryLimitBytes, GuestCpuLimit? cpu)
    {
        var guest = Volatile.Read(ref _guest);
        guest?.UpdateMemoryLimit(memoryLimitBytes);
        guest?.UpdateCpu(cpu);
    }

    private void AbandonAfterGrace(int signal)
    {
        lock (_lock)
        {
            if (_abandon is not null || Volatile.Read(ref _finishReported) != 0)
                return;
            _abandon = new Timer(_ =>
            {
                if (Interlocked.Exchange(ref _finishReported, 1) == 0)
                {
                    _owner.Tell(new WasmProcessProtocol.GuestFinished(
                        ExitStatus.Signalled(signal), null, DateTimeOffset.UtcNow));
                }
            }, null, ComponentKillGrace, Timeout.InfiniteTimeSpan);
        }
    }

    // The first report wins: the guest's own end, or a kill reported without it (see the remarks above).
    private void Finish(WasmProcessProtocol.GuestFinished finished)
    {
        lock (_lock)
            _abandon?.Dispose();
        if (Interlocked.Exchange(ref _finishReported, 1) == 0)
            _owner.Tell(finished);
    }

    private void Body(
        WasmEngine engine, string modulePath, GuestConfig config, GuestStdio stdio, IActorRef owner, Action afterInstantiate,
        SandboxNamespaces namespaces, GuestCpuLimit? cpu)
    {
        var tid = (uint)LinuxSelf.GetThreadId();
        Guest guest;
        try
        {
            namespaces.Enter();
            var module = engine.Load(modulePath);
            guest = engine.CreateGuest(module, config, stdio);
            guest.UpdateCpu(cpu);
            // Only a Tell: the event is raised on this thread, inside the guest's epoch check.
            guest.OomOccurred += oom => owner.Tell(new WasmProcessProtocol.GuestOom(oom.MemoryBytes, oom.LimitBytes));
            guest.Instantiate();
        }
        catch (Exception e)
        {
            var code = e is InvalidModuleException or GuestStartException ? FailureCode.InvalidArgument : FailureCode.Internal;
            owner.Tell(new WasmProcessProtocol.GuestFailed(code, e.Message));
            return;
        }
        finally
        {
            afterInstantiate();
        }

        int killSignal;
        lock (_lock)
        {
            _guest = guest;
            killSignal = _killSignal;
        }
        if (killSignal != 0)
            guest.Kill(killSignal);
        owner.Tell(new WasmProcessProtocol.GuestReady(tid));

        _gate.Wait();
        GuestExit exit;
        try
        {
            exit = guest.Run();
        }
        catch (Exception e)
        {
            // Run never throws for what a guest does; anything else is our bug, and on this thread it would take the
            // whole shim (every sandbox's guests) down. The guest ends with 255 and the shim serves on.
            Finish(new WasmProcessProtocol.GuestFinished(ExitStatus.Internal, "internal error: " + e.Message, DateTimeOffset.UtcNow));
            return;
        }
        Finish(new WasmProcessProtocol.GuestFinished(exit.Status, exit.TrapMessage, DateTimeOffset.UtcNow));
    }
}
