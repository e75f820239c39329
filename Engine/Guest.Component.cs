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

    private void InstantiateComponent(Store store)
    {
        store.SetWasiConfiguration(BuildComponentWasi());
        store.SetEpochDeadline(1);
        store.SetEpochDeadlineCallback(OnEpoch);
        ComponentInstance instance;
        // Instantiation may run wasm code (start functions of the inner modules): it gets ticks like run does.
        using (_context.Executing())
            instance = Module.Code.Tier.ComponentLinker.Instantiate(store, Module.Code.Component!);
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
        // A component's memories are its inner modules' and not exported: MemoryBytes stays 0 (the limit still holds).
    }

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
