using System.Diagnostics;
using WasmKata.Linux;
using WasmKata.Linux.Namespaces;
using Wasmtime;
using Wasmtime.Components;

namespace WasmKata.Engine;

// A WASI 0.2 command component (the wasi:cli/command world): Wasmtime's own WASI 0.2 host with the same args, env,
// preopens and stdio as a core module gets, run through wasi:cli/run. The store, its epoch callback (kill, pause,
// memory limit, CPU quota) and the outcome bookkeeping are the core module's; what differs is said where it differs.
public sealed partial class Guest
{
    // Any 0.2.x: Wasmtime finds a semver-compatible export (a component built against 0.2.3 answers to 0.2.0).
    private const string RunInterface = "wasi:cli/run@0.2.0";

    // Tokio names its runtime's threads so (the kernel keeps 15 bytes of "tokio-runtime-worker").
    private const string TokioThreadName = "tokio-runtime-w";

    // Set when the component imports wasi:http but its container did not ask for it: it was instantiated with those
    // imports as traps, and such a trap is reported as the denial it is.
    private bool _httpDenied;

    // A component's memories are internal to it (not exported): they are found in the address space instead (see
    // LinearMemoryMaps), as the reservations that appeared while it was instantiated. Empty with the pooling allocator,
    // whose memory slots are reserved before any guest exists: the figure then stays 0.
    private ulong[] _componentMemories = [];
    private long _nextComponentSample;

    // Reading the address space costs about as much as a tick's other work together: at most this often while running.
    private static readonly long ComponentSampleInterval = Stopwatch.Frequency / 10;

    private void InstantiateComponent(Store store)
    {
        store.SetWasiConfiguration(BuildComponentWasi());
        if (_config.OutgoingHttp)
        {
            CheckHttpNamespace();
            WasiHttpNative.SetContext(store);
        }
        store.SetEpochDeadline(1);
        store.SetEpochDeadlineCallback(OnEpoch);
        ComponentInstance instance;
        // A guest of the same shim instantiated at the same moment would have its memories counted here too.
        var reservations = _engine.Options.PoolingAllocator ? null : LinearMemoryMaps.ReservationEnds();
        // Instantiation may run wasm code (start functions of the inner modules): it gets ticks like run does.
        using (_context.Executing())
            instance = InstantiateWithLinker(store, Module.Code.Component!);
        if (reservations is not null)
        {
            var added = LinearMemoryMaps.ReservationEnds();
            added.ExceptWith(reservations);
            _componentMemories = [.. added];
        }
        var run = instance.GetFunction(RunInterface, "run")
            ?? throw Fail("missing `wasi:cli/run` export (only WASI 0.2 command components can run)");
        if (run.ParameterCount != 0 || !run.HasResult)
            throw Fail("`wasi:cli/run.run` must take no parameters and return a result");
        _start = () =>
        {
            // run returns result<_, _>: ok is exit status 0, err is 1 (as wasi:cli/exit's err is).
            var result = run.Call();
            if (result is not { Kind: ComponentValueKind.Result, IsOk: true })
                _context.TryExit(1);
        };
    }

    private ComponentInstance InstantiateWithLinker(Store store, Component component)
    {
        if (_config.OutgoingHttp)
            return Module.Code.Tier.HttpComponentLinker.Instantiate(store, component);
        try
        {
            return Module.Code.Tier.ComponentLinker.Instantiate(store, component);
        }
        catch (WasmtimeException e) when (e.Message.Contains("wasi:http/", StringComparison.Ordinal))
        {
            // Outgoing HTTP is off for this container: the component still runs (it may never make a request), and its
            // first wasi:http call traps with a message saying why. A linker of its own, as this one is changed for it.
            using var denied = Module.Code.Tier.NewComponentLinker(http: false);
            denied.DefineUnknownImportsAsTraps(component);
            _httpDenied = true;
            return denied.Instantiate(store, component);
        }
    }

    // Wasmtime makes outgoing HTTP connections on its Tokio runtime's threads, not on the guest's: one runtime per
    // process, whose threads are made by the first guest thread that needs it and inherit that thread's network
    // namespace. Guest threads enter the sandbox's namespaces first, and a shim serves one sandbox, so they are the
    // sandbox's; should any be elsewhere, the connections would leave the pod's network: refuse.
    private void CheckHttpNamespace()
    {
        var mine = ThreadNetNamespaces.Current();
        foreach (var (tid, ns) in ThreadNetNamespaces.ThreadsNamed(TokioThreadName))
        {
            if (ns != mine)
                throw Fail($"outgoing HTTP cannot be confined to the sandbox's network namespace ({mine}): Wasmtime's I/O thread {tid} is in {ns}");
        }
    }

    // On the guest thread: the component's memories as the address space shows them, now or (when not forced) at most
    // every ComponentSampleInterval.
    private void SampleComponentMemory(bool force)
    {
        if (_componentMemories.Length == 0)
            return;
        var now = Stopwatch.GetTimestamp();
        if (!force && now < _nextComponentSample)
            return;
        _nextComponentSample = now + ComponentSampleInterval;
        Interlocked.Exchange(ref _memoryBytes, LinearMemoryMaps.AccessibleBytes(_componentMemories));
        CheckMemoryLimit();
    }

    // The text a denied wasi:http call ends with, for the log and the guest's stderr.
    private string? HttpDenial(string trap) => _httpDenied && trap.Contains("wasi:http/", StringComparison.Ordinal)
        ? $"outgoing HTTP is off for this container (it asks with the annotation {Core.Plan.GuestPlan.OutgoingHttpAnnotation}=true): {trap}"
        : null;

    // The component's stdio is Wasmtime's WASI 0.2 streams (our fd_read/fd_write shadows are preview 1 only): stdin is
    // the pipe, opened by path; stdout and stderr reach the outputs through Wasmtime's output callbacks, called on a
    // Wasmtime worker thread one write at a time. A blocked sink holds that worker, and the guest's next write waits
    // for it (Wasmtime keeps one write in flight per stream): back-pressure reaches the guest as a blocked write.
    private WasiConfiguration BuildComponentWasi()
    {
        var wasi = BuildWasi(forComponent: true);
        if (_stdio.StdinPath is { } stdin)
            wasi.WithStandardInput(stdin);
        return wasi;
    }
}
