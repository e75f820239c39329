using Serilog;
using WasmKata.Core.Plan;

namespace WasmKata.Engine;

/// <summary>The Wasmtime engines of a shim process: compiled modules, the shared linkers and the epoch ticker.</summary>
/// <remarks>
/// Two tiers (<see cref="EngineTier"/>): Cranelift for everything, and Winch for the first start of a big core module
/// while Cranelift compiles it in the background (<see cref="ModuleLoader"/>). Each tier's linker has WASI preview 1 with our own <c>proc_exit</c>, <c>poll_oneoff</c>, <c>fd_write</c> and <c>fd_read</c> in place of Wasmtime's. The
/// ticker advances the epoch so running guests reach their epoch callback. It runs only while some guest may be
/// executing wasm code (see <see cref="EnterWasm"/>): a daemon whose guests all sleep, wait for stdin or output room,
/// or are paused has no timer waking it. Dispose only after every guest finished.
/// </remarks>
public sealed partial class WasmEngine : IDisposable
{
    private readonly EngineTier _optimizing;
    // Winch, for the first start of big core modules; made when the first one is loaded.
    private readonly Lazy<EngineTier> _baseline;
    private readonly ModuleLoader _loader;
    private readonly Timer _ticker;
    private readonly Lock _gate = new();
    private readonly ILogger _log;
    private bool _disposed;
    private int _executing;
    private bool _tickerRunning;
    private long _timerTicks;
    // Epoch callbacks seen (all guests), the count at the last tick, how many ticks in a row saw none, and whether the
    // ticker runs at the idle period because of that.
    private long _callbacks;
    private long _callbacksAtTick;
    private int _quietTicks;
    private volatile bool _idlePeriod;

    /// <summary>Creates the engine; its epoch ticker starts when a guest first executes wasm code.</summary>
    public WasmEngine(EngineOptions options, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
        _log = logger ?? Serilog.Core.Logger.None;
        _optimizing = EngineTier.Optimizing(options);
        _baseline = new Lazy<EngineTier>(() => EngineTier.Baseline(options));
        try
        {
            _loader = new ModuleLoader(_optimizing, () => _baseline.Value, options, _log);
        }
        catch
        {
            _optimizing.Dispose();
            throw;
        }
        _ticker = new Timer(_ => TimerTick(), null, Timeout.Infinite, Timeout.Infinite);
    }

    /// <summary>The options the engine was created with.</summary>
    public EngineOptions Options { get; }

    /// <summary>The optimising tier: where small modules, components and the optimised code of big modules run.</summary>
    internal EngineTier Optimizing => _optimizing;

    internal ModuleLoader Loader => _loader;

    /// <summary>How many guests may be executing wasm code now.</summary>
    internal int ExecutingGuests => Volatile.Read(ref _executing);

    /// <summary>Whether the epoch ticker is running.</summary>
    internal bool TickerRunning
    {
        get
        {
            lock (_gate)
                return _tickerRunning;
        }
    }

    /// <summary>How many times the ticker advanced the epoch (nudges not counted).</summary>
    internal long TimerTicks => Interlocked.Read(ref _timerTicks);

    /// <summary>Whether the ticker runs at <see cref="IdleTick"/> because no executing guest reached an epoch check lately.</summary>
    internal bool TickerIdle => _idlePeriod;

    /// <summary>
    /// The ticker's period while guests count as executing but none reaches its epoch callback: they are blocked in a host
    /// call that does not say so (a component in Wasmtime's WASI 0.2 sleep or read). A guest back in wasm code gets its
    /// next check within this, and then the normal period again; kill and pause nudge the epoch at once whatever the period.
    /// </summary>
    internal static readonly TimeSpan IdleTick = TimeSpan.FromMilliseconds(250);

    // Ticks in a row without any epoch callback before the ticker drops to IdleTick (100 ms at the default 10 ms tick).
    private const int QuietTicksBeforeIdle = 10;

    /// <summary>
    /// A guest thread is about to execute wasm code (or returns to it from a blocking host call): the first one starts
    /// the ticker. Pair each call with <see cref="LeaveWasm"/>.
    /// </summary>
    internal void EnterWasm()
    {
        if (Interlocked.Increment(ref _executing) != 1)
            return;
        // 0 -> 1 under the gate: a tick that saw no guest executing stopped the ticker before we got the gate, so it
        // is started again here; a tick after this sees the count and leaves it running.
        lock (_gate)
        {
            if (_tickerRunning || _disposed)
                return;
            _tickerRunning = true;
            _idlePeriod = false;
            _quietTicks = 0;
            _ticker.Change(Options.EpochTick, Options.EpochTick);
        }
    }

    /// <summary>
    /// A guest thread stopped executing wasm code (it blocks in the host, or its run ended). The ticker is not stopped
    /// here but by its next tick that finds no guest executing, so a guest going in and out of short host calls
    /// (writes) does not restart the timer each time.
    /// </summary>
    internal void LeaveWasm() => Interlocked.Decrement(ref _executing);

    /// <summary>
    /// On a guest thread, in its epoch callback: it executes wasm code. Brings the ticker back from the idle period (the
    /// first check after a long host call) so the guest's quota and pause checks come at the normal rate again.
    /// </summary>
    internal void EpochCallbackSeen()
    {
        Interlocked.Increment(ref _callbacks);
        if (!_idlePeriod)
            return;
        lock (_gate)
        {
            if (!_idlePeriod || !_tickerRunning || _disposed)
                return;
            _idlePeriod = false;
            _quietTicks = 0;
            _ticker.Change(Options.EpochTick, Options.EpochTick);
        }
    }

    /// Reads, validates and compiles (or finds already compiled) the core module or component at <paramref name="hostPath"/>
    /// (its header says which). Throws <see cref="InvalidModuleException"/> when the file is missing, empty, not wasm, or invalid.
    /// </summary>
    public GuestModule Load(string hostPath)
    {
        ArgumentNullException.ThrowIfNull(hostPath);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed), this);
        var (code, digest, source) = _loader.Load(hostPath);
        _log.Debug("loaded {Kind} {Module} ({Digest}) from {Source}", code.Kind, hostPath, digest, source);
        return new GuestModule(this, hostPath, digest, source, code);
    }

    /// <summary>
    /// For a guest host (guest_isolation = "process"): the compile cache entry of the module at <paramref name="hostPath"/>,
    /// opened read-only and checked, compiled and written first if need be (<see cref="ModuleLoader.HandOver"/>); null
    /// without a disk cache. Throws <see cref="InvalidModuleException"/> as <see cref="Load"/> does.
    /// </summary>
    public CompiledEntry? PrepareCompiledEntry(string hostPath)
    {
        ArgumentNullException.ThrowIfNull(hostPath);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed), this);
        return _loader.HandOver(hostPath);
    }

    /// <summary>Prepares one run of <paramref name="module"/>; call <see cref="Guest.Instantiate"/> next.</summary>
    public Guest CreateGuest(GuestModule module, GuestConfig config, GuestStdio stdio)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(stdio);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed), this);
        if (!ReferenceEquals(module.Owner, this))
            throw new ArgumentException("the module was loaded by another engine", nameof(module));
        return new Guest(this, module, config, stdio, _log);
    }

    /// <summary>Stops and joins the ticker, then releases the linker, modules and engine.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed)
                return;
            _disposed = true;
        }
        using (var stopped = new ManualResetEvent(false))
        {
            if (_ticker.Dispose(stopped))
                stopped.WaitOne();
        }
        // Wasmtime borrows the engine while it compiles or serializes: a compile thread or a cache write still running
        // keeps the engines alive; the process is about to end anyway.
        if (!_loader.DisposeWhenIdle())
        {
            _log.Warning("an optimising compile is still running: the engines are left to the end of the process");
            return;
        }
        if (_baseline.IsValueCreated)
            _baseline.Value.Dispose();
        _optimizing.Dispose();
    }

    /// <summary>
    /// How many big modules are on their way to Cranelift code now: a Winch entry being written, a compile on a thread
    /// of this process or in a compile process it started.
    /// </summary>
    public int OptimizationsPending => _loader.OptimizationsPending;

    /// <summary>How many Winch entries are being written to the disk cache beside their first guest.</summary>
    public int CacheWritesPending => _loader.CacheWritesPending;

    /// <summary>
    /// Waits up to <paramref name="limit"/> for the Winch entries being written (each then starts its compile process);
    /// false when some still are.
    /// </summary>
    public bool WaitForCacheWrites(TimeSpan limit) => _loader.WaitForCacheWrites(limit);

    /// <summary>
    /// Waits up to <paramref name="limit"/> for the background compiles under way (their code goes to the disk cache for
    /// the next start); false when some still run.
    /// </summary>
    public bool WaitForOptimizations(TimeSpan limit) => _loader.WaitForOptimizations(limit);

    /// <summary>Advances the epoch now, so a killed guest notices at its next check instead of the next tick.</summary>
    internal void Nudge() => Tick();

    private void TimerTick()
    {
        lock (_gate)
        {
            if (_disposed || !_tickerRunning)
                return;
            if (Volatile.Read(ref _executing) == 0)
            {
                _tickerRunning = false;
                _ticker.Change(Timeout.Infinite, Timeout.Infinite);
                return;
            }
            Interlocked.Increment(ref _timerTicks);
            IncrementEpochs();
            SlowDownWhenQuiet();
        }
    }

    // Under the gate, on a tick: guests count as executing, but if none has reached an epoch callback for a while they
    // are all blocked in the host, and ticking every few ms only wakes the process for nothing.
    private void SlowDownWhenQuiet()
    {
        var callbacks = Interlocked.Read(ref _callbacks);
        if (callbacks != _callbacksAtTick)
        {
            _callbacksAtTick = callbacks;
            _quietTicks = 0;
            return;
        }
        if (_idlePeriod || ++_quietTicks < QuietTicksBeforeIdle || IdleTick <= Options.EpochTick)
            return;
        _idlePeriod = true;
        _ticker.Change(IdleTick, IdleTick);
    }

    private void Tick()
    {
        lock (_gate)
        {
            if (!_disposed)
                IncrementEpochs();
        }
    }

    // Under the gate: a store's deadline counts its own engine's epochs, and both tiers tick together.
    private void IncrementEpochs()
    {
        _optimizing.Engine.IncrementEpoch();
        if (_baseline.IsValueCreated)
            _baseline.Value.Engine.IncrementEpoch();
    }
}
