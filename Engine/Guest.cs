using System.Diagnostics;
using Serilog;
using WasmKata.Core;
using WasmKata.Core.Plan;
using Wasmtime;

namespace WasmKata.Engine;

/// <summary>One run of one module or component: <see cref="Instantiate"/>, then <see cref="Run"/> on the guest's own thread.</summary>
/// <remarks>
/// Not thread-safe, except <see cref="Kill"/> and <see cref="MemoryBytes"/>. The store is released when Run returns
/// (or on Dispose), so a guest that ran needs no Dispose.
/// Kill ends a spinning guest (epoch check) and a sleeping one (our <c>poll_oneoff</c>) on its own. A guest blocked
/// writing to its <see cref="IGuestOutput"/> or reading its stdin pipe waits on objects its owner holds: the owner
/// must abort the outputs (<c>OutputBuffer.Abort</c>) and close the stdin write end together with Kill; the guest then
/// returns from the call and ends at its next epoch check or host call.
/// </remarks>
public sealed partial class Guest : IDisposable
{
    private readonly WasmEngine _engine;
    private readonly GuestConfig _config;
    private readonly GuestStdio _stdio;
    private readonly ILogger _log;
    private readonly GuestContext _context;
    private readonly Lock _gate = new();
    private GuestState _state = GuestState.Created;
    private bool _disposeAfterRun;
    private Store? _store;
    private Memory? _memory;
    private Action? _start;
    private long _memoryBytes;

    internal Guest(WasmEngine engine, GuestModule module, GuestConfig config, GuestStdio stdio, ILogger log)
    {
        _engine = engine;
        Module = module;
        _config = config;
        _stdio = stdio;
        _log = log;
        _context = new GuestContext(engine);
        _memoryLimit = config.MemoryLimitBytes ?? NoLimit;
    }

    private enum GuestState
    {
        Created,
        Instantiated,
        Running,
        Done,
        Disposed,
    }

    /// <summary>The module this guest runs.</summary>
    public GuestModule Module { get; }

    /// <summary>
    /// Size of the guest's linear memory in bytes, sampled at every epoch tick (a component's memories together, at most
    /// every 100 ms, and 0 with the pooling allocator); safe from any thread.
    /// </summary>
    public long MemoryBytes => Interlocked.Read(ref _memoryBytes);

    /// <summary>
    /// Builds the store (WASI args, env, preopens and stdio, memory limit, epoch callback) and instantiates the module.
    /// Throws <see cref="GuestStartException"/> naming the reason: an unknown import, no <c>_start</c>, a trap in the
    /// start function, a missing directory.
    /// </summary>
    public void Instantiate()
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_state == GuestState.Disposed, this);
            if (_state != GuestState.Created)
                throw new InvalidOperationException("the guest is already instantiated");
            // Killed before it was even built: Run reports the kill without running anything.
            if (_context.KillRequested)
            {
                _state = GuestState.Instantiated;
                return;
            }
        }

        var store = new Store(Module.Code.Tier.Engine, _context);
        try
        {
            ApplyMemoryLimit(store);
            if (Module.Kind == WasmKind.Component)
                InstantiateComponent(store);
            else
                InstantiateModule(store);
            SampleMemory(force: true);
            _oomBaseline = true;
        }
        catch (Exception e)
        {
            store.Dispose();
            _context.Stdin?.Dispose();
            _context.Stdin = null;
            if (_context.KillRequested)
            {
                // Killed while instantiating (say, in a long start function): not a start failure; Run reports the kill.
                lock (_gate)
                {
                    if (_state == GuestState.Created)
                        _state = GuestState.Instantiated;
                }
                return;
            }
            if (e is GuestStartException)
                throw;
            if (e is TrapException)
                throw Fail($"trap in the start function: {WasmtimeErrors.TrapText(e)}", e);
            throw Fail(WasmtimeErrors.OneLine(e.Message), e);
        }

        lock (_gate)
        {
            if (_state == GuestState.Disposed)
            {
                store.Dispose();
                throw new ObjectDisposedException(nameof(Guest));
            }
            _store = store;
            _state = GuestState.Instantiated;
        }
    }

    private void InstantiateModule(Store store)
    {
        store.SetWasiConfiguration(BuildWasi());
        _context.Stdout = _stdio.Stdout;
        _context.Stderr = _stdio.Stderr;
        _context.Passthrough = Module.Code.Tier.Passthrough(store);
        _context.MonotonicBase = Stopwatch.GetTimestamp();
        store.SetEpochDeadline(1);
        store.SetEpochDeadlineCallback(OnEpoch);
        Instance instance;
        // The module's start function is wasm code: it gets ticks (kill, pause, limits) like _start.
        using (_context.Executing())
            instance = Module.Code.Tier.Linker.Instantiate(store, Module.Module);
        _start = instance.GetAction("_start") ?? throw Fail(instance.GetFunction("_start") is null
            ? "missing `_start` export (only WASI command modules can run)"
            : "`_start` must take no parameters and return nothing");
        _memory = instance.GetMemory("memory");
        _context.BeforeBlocking = SampleMemory;
        _context.Memory = _memory;
    }

    /// <summary>
    /// Runs <c>_start</c> on the calling thread until the guest ends, and says how. Never throws for anything the
    /// guest does: a return is 0, <c>proc_exit(n)</c> is n (0-255), a trap is 134, a kill is 128 + signal (even when
    /// the guest was already exiting or trapping; a real exit that came first is kept).
    /// </summary>
    public GuestExit Run()
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_state == GuestState.Disposed, this);
            if (_state == GuestState.Created && !_context.KillRequested)
                throw new InvalidOperationException("instantiate the guest before running it");
            if (_state is GuestState.Running or GuestState.Done)
                throw new InvalidOperationException("a guest runs only once");
            _state = GuestState.Running;
        }

        string? trap = null;
        EnterRun();
        try
        {
            if (!_context.HasEnded && _start is not null)
            {
                try
                {
                    // A guest paused (or given new limits) before it ran waits here, before any of its code runs.
                    PrepareToStart(_store!);
                    if (!_context.HasEnded)
                    {
                        using var executing = _context.Executing();
                        _start();
                        _context.TryExit(0);
                    }
                }
                catch (WasmtimeException e)
                {
                    // A component's wasi:cli/exit is Wasmtime's own: it ends the call with an exit status.
                    if (Module.Kind == WasmKind.Component && e.ExitCode is { } code)
                        _context.TryExit(code);
                    // Our own stops (proc_exit, kill) have set the outcome before throwing; anything else is a trap.
                    if (!_context.HasEnded)
                    {
                        trap = WasmtimeErrors.TrapText(e);
                        if (Module.Kind == WasmKind.Component && HttpDenial(trap) is { } denial)
                        {
                            trap = denial;
                            WriteToStderr($"wasmkata: {denial}\n");
                        }
                        _log.Debug("{Module} trapped: {Error}", Module.Path, e.Message);
                        _context.TryTrap();
                    }
                }
                SampleMemory(force: true);
            }
            return _context.ToExit(trap);
        }
        finally
        {
            LeaveRun();
            lock (_gate)
            {
                ReleaseStore();
                _state = _disposeAfterRun ? GuestState.Disposed : GuestState.Done;
            }
        }
    }

    /// <summary>
    /// Ends the guest as if by <paramref name="signal"/> (exit 128 + signal) within milliseconds; returns at once.
    /// Thread-safe and idempotent (the first signal counts); does nothing once the guest has ended.
    /// </summary>
    public void Kill(int signal)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(signal, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(signal, SignalNumber.Max);
        if (_context.TryKill(signal))
            _engine.Nudge();
    }

    /// <summary>Releases the store; while <see cref="Run"/> is still going it kills the guest and Run releases it.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            switch (_state)
            {
                case GuestState.Disposed:
                    return;
                case GuestState.Running:
                    _disposeAfterRun = true;
                    break;
                default:
                    ReleaseStore();
                    _state = GuestState.Disposed;
                    return;
            }
        }
        Kill(SignalNumber.Kill);
    }

    // Runs on the guest thread at every epoch tick while wasm code runs: kill, limits, pause and the CPU quota.
    private ulong OnEpoch(Store store)
    {
        _engine.EpochCallbackSeen();
        SampleMemory();
        _context.ThrowIfKilled();
        Regulate(store);
        return 1;
    }

    // A message of the host's own on the guest's stderr (where its user looks first); a failing sink is only logged.
    private void WriteToStderr(string text)
    {
        try
        {
            _stdio.Stderr?.Write(System.Text.Encoding.UTF8.GetBytes(text));
        }
        catch (Exception e)
        {
            _log.Warning(e, "{Module}: could not write to stderr", Module.Path);
        }
    }

    // At every tick: a core module's exported memory; a component's memories (at most every 100 ms).
    private void SampleMemory() => SampleMemory(force: false);

    private void SampleMemory(bool force)
    {
        if (_memory is { } memory)
        {
            Interlocked.Exchange(ref _memoryBytes, memory.GetLength());
            CheckMemoryLimit();
        }
        else
        {
            SampleComponentMemory(force);
        }
    }

    private void ReleaseStore()
    {
        _memory = null;
        _componentMemories = [];
        _context.Memory = null;
        _context.Passthrough = null;
        _context.Stdin?.Dispose();
        _context.Stdin = null;
        _start = null;
        _store?.Dispose();
        _store = null;
    }

    private GuestStartException Fail(string reason, Exception? inner = null) => new(Module.Path, reason, inner);
}
