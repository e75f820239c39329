using System.Globalization;
using System.Reflection;
using Serilog;
using WasmKata.Core.Plan;
using Wasmtime;
using Wasmtime.Components;
using WasmtimeEngine = Wasmtime.Engine;

namespace WasmKata.Engine;

/// <summary>The one Wasmtime engine of a shim process: compiled modules, the shared linker and the epoch ticker.</summary>
/// <remarks>
/// The linker has WASI preview 1 with our own <c>proc_exit</c>, <c>poll_oneoff</c>, <c>fd_write</c> and <c>fd_read</c> in place of Wasmtime's. The
/// ticker advances the epoch so running guests reach their epoch callback. It runs only while some guest may be
/// executing wasm code (see <see cref="EnterWasm"/>): a daemon whose guests all sleep, wait for stdin or output room,
/// or are paused has no timer waking it. Dispose only after every guest finished.
/// </remarks>
public sealed class WasmEngine : IDisposable
{
    private readonly WasmtimeEngine _engine;
    private readonly Linker _linker;
    // WASI alone, unshadowed: where our fd_write finds Wasmtime's for the fds it does not handle itself.
    private readonly Linker _wasi;
    private readonly Lazy<Wasmtime.Module> _passthrough;
    // WASI 0.2 (Wasmtime's own) for components; made when the first component is instantiated.
    private readonly Lazy<ComponentLinker> _componentLinker;
    // The same with Wasmtime's wasi:http (types and outgoing-handler), for the components of containers that ask for it.
    private readonly Lazy<ComponentLinker> _httpLinker;
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

        // No parallel compilation: Wasmtime would keep a rayon pool (a thread per core, for good) that helps little on the
        // small modules guests are, and a compile happens once per module digest (the disk cache has the rest).
        using var config = new Wasmtime.Config().WithEpochInterruption(true).WithParallelCompilation(false);
        PoolingAllocationConfig? pooling = null;
        try
        {
            if (options.PoolingAllocator)
            {
                var slots = (uint)options.PoolingMaxInstances;
                pooling = new PoolingAllocationConfig()
                    .WithMaxCoreInstances(slots)
                    .WithMaxMemories(slots)
                    .WithMaxTables(slots)
                    .WithMaxMemorySize((nuint)options.PoolingMaxMemoryBytes)
                    .WithMaxUnusedWarmSlots(Math.Min(slots, 100u));
                config.WithPoolingAllocationStrategy(pooling);
            }
            _engine = new WasmtimeEngine(config);
        }
        finally
        {
            pooling?.Dispose();
        }

        try
        {
            _wasi = new Linker(_engine);
            _wasi.DefineWasi();
            _passthrough = new Lazy<Wasmtime.Module>(() => Wasmtime.Module.FromText(_engine, "wasi-passthrough", WasiFdWrite.PassthroughWat));
            _componentLinker = new Lazy<ComponentLinker>(() => NewComponentLinker(http: false));
            _httpLinker = new Lazy<ComponentLinker>(() => NewComponentLinker(http: true));
            _linker = new Linker(_engine);
            _linker.DefineWasi();
            _linker.AllowShadowing = true;
            WasiShadows.Define(_linker);
            _loader = new ModuleLoader(_engine, options.ModuleCacheDirectory, options.ModuleCacheMaxBytes, SettingsKey(options), _log);
        }
        catch
        {
            _linker?.Dispose();
            _wasi?.Dispose();
            _engine.Dispose();
            throw;
        }
        _ticker = new Timer(_ => TimerTick(), null, Timeout.Infinite, Timeout.Infinite);
    }

    /// <summary>The options the engine was created with.</summary>
    public EngineOptions Options { get; }

    internal Linker Linker => _linker;

    internal ComponentLinker ComponentLinker => _componentLinker.Value;

    internal ComponentLinker HttpComponentLinker => _httpLinker.Value;

    /// <summary>
    /// A component linker with WASI 0.2 (and wasi:http when <paramref name="http"/>); the caller owns it. A store it
    /// instantiates with wasi:http needs <see cref="WasiHttpNative.SetContext"/>.
    /// </summary>
    internal ComponentLinker NewComponentLinker(bool http)
    {
        var linker = new ComponentLinker(_engine);
        try
        {
            linker.AddWasiPreview2();
            if (http)
                WasiHttpNative.AddToLinker(linker);
            return linker;
        }
        catch
        {
            linker.Dispose();
            throw;
        }
    }

    internal WasmtimeEngine Engine => _engine;

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

    /// <summary>
    /// Wasmtime's own <c>fd_write</c>, <c>fd_read</c> and <c>fd_fdstat_get</c> for <paramref name="store"/>, reached through a tiny instance of its own (WASI
    /// finds its buffers in the calling instance's memory, so a host function cannot call it directly).
    /// </summary>
    internal WasiPassthrough Passthrough(Store store)
    {
        var instance = _wasi.Instantiate(store, _passthrough.Value);
        return new WasiPassthrough(
            instance.GetMemory("memory") ?? throw new InvalidOperationException("the passthrough module exports no memory"),
            instance.GetFunction("fd_write")?.WrapFunc<int, int, int, int, int>()
                ?? throw new InvalidOperationException("the passthrough module exports no fd_write"),
            instance.GetFunction("fd_read")?.WrapFunc<int, int, int, int, int>()
                ?? throw new InvalidOperationException("the passthrough module exports no fd_read"),
            instance.GetFunction("fd_fdstat_get")?.WrapFunc<int, int, int>()
                ?? throw new InvalidOperationException("the passthrough module exports no fd_fdstat_get"));
    }

    /// <summary>
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
        _linker.Dispose();
        _wasi.Dispose();
        if (_passthrough.IsValueCreated)
            _passthrough.Value.Dispose();
        if (_componentLinker.IsValueCreated)
            _componentLinker.Value.Dispose();
        if (_httpLinker.IsValueCreated)
            _httpLinker.Value.Dispose();
        _loader.Dispose();
        _engine.Dispose();
    }

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
            _engine.IncrementEpoch();
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
                _engine.IncrementEpoch();
        }
    }

    private static string SettingsKey(EngineOptions options)
    {
        var version = typeof(WasmtimeEngine).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
            ?? typeof(WasmtimeEngine).Assembly.GetName().Version?.ToString() ?? "?";
        return string.Create(CultureInfo.InvariantCulture,
            $"wasmtime={version};arch={System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture};epoch=1;pooling={options.PoolingAllocator};slots={options.PoolingMaxInstances};maxmem={options.PoolingMaxMemoryBytes}");
    }
}
