using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using WasmKata.Core;
using WasmKata.Core.Plan;
using WasmKata.Engine;
using WasmKata.Linux.Confinement;

namespace WasmKata.Shim.GuestHost;

/// <summary>
/// <c>containerd-shim-wasmkata-v2 guest-host ...</c>: confines itself (docs/guest-host.md) and runs one wasm module
/// handed over as descriptors, then writes to the report fd: <c>exit N</c>, or <c>error TEXT</c> when it could not
/// confine itself or start the guest (exit status 255). Stage 1 (as root) ends in an exec of stage 2. With
/// <c>-control-fd</c> (the daemon's GuestProcess) it also reports <c>ready KIND</c> after Instantiate, waits for
/// <c>start</c>, takes <c>kill N</c> and <c>limits</c> lines, writes <c>trap TEXT</c> and <c>oom</c> lines, and
/// answers a bad module with <c>invalid TEXT</c>.
/// </summary>
internal static class GuestHostAction
{
    /// <summary>The exit status of a guest host that failed before or instead of its guest.</summary>
    public const int Failed = ExitStatus.Internal;

    public static int Run(IReadOnlyList<string> args)
    {
        GuestHostArgs parsed;
        try
        {
            parsed = GuestHostArgs.Parse(args);
        }
        catch (Exception e) when (e is ArgumentException or FormatException or OverflowException)
        {
            Console.Error.WriteLine($"containerd-shim-wasmkata-v2 guest-host: {e.Message}");
            return 2;
        }

        using var report = new ReportWriter(parsed.ReportFd);
        try
        {
            if (!parsed.Stage2)
            {
                GuestHostConfinement.ConfineAndExec(
                    parsed.Uid, parsed.Gid, parsed.RootfsFd, parsed.RootfsReadOnly, parsed.ModuleFd, parsed.Stdin ? [0] : [], parsed.ToStage2Args,
                    parsed.NamespaceFds, parsed.Preopens.Select(p => (p.Fd, p.ReadOnly)).ToList(), parsed.Http);
                return Failed;
            }
            // SIGTERM is taken over first thing in stage 2: one that comes while the filter goes in or the engine starts
            // still ends as a reported 143, never as the default action's silent death.
            var termination = new Termination();
            using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
            {
                context.Cancel = true;
                termination.Request(SignalNumber.Term);
            });
            // socket(2) goes by its family: inet for a container that asked for HTTP, else none (EPERM, never a kill).
            GuestHostConfinement.FinishAfterExec(parsed.Http
                ? SeccompFilter.Build([.. GuestHostSyscalls.All, .. GuestHostSyscalls.OutgoingNetwork], parsed.Seccomp, GuestHostSyscalls.OutgoingSocketFamilies)
                : SeccompFilter.Build(GuestHostSyscalls.All, parsed.Seccomp, []));
            if (parsed.ControlFd >= 0)
                GuestHostConfinement.DieWithParent();
            var exit = RunGuest(parsed, report, termination);
            if (parsed.ControlFd >= 0 && exit.TrapMessage is { } trap)
                report.Line($"trap {trap.ReplaceLineEndings(" ")}");
            report.Line($"exit {exit.Status}");
            return exit.Status;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException
                                      or PlatformNotSupportedException or ArgumentException
                                      or InvalidModuleException or GuestStartException)
        {
            // The daemon tells a module the user can fix (InvalidArgument) from a failure of ours (Internal).
            var word = parsed.ControlFd >= 0 && e is InvalidModuleException or GuestStartException ? "invalid" : "error";
            report.Line($"{word} {e.Message.ReplaceLineEndings(" ")}");
            Console.Error.WriteLine($"containerd-shim-wasmkata-v2 guest-host: {e.Message}");
            return Failed;
        }
    }

    private static GuestExit RunGuest(GuestHostArgs args, ReportWriter report, Termination termination)
    {
        // The engine settings compiled code depends on are the daemon's (its cache has no other entries); the rest is ours.
        var options = args.Pooling is var (slots, maxMemory)
            ? new EngineOptions { PoolingAllocator = true, PoolingMaxInstances = slots, PoolingMaxMemoryBytes = maxMemory }
            : new EngineOptions();
        using var engine = new WasmEngine(options);
        var module = LoadModule(engine, args);
        var preopens = args.Preopens.Select(p => new Preopen($"/proc/self/fd/{p.Fd}", p.GuestPath, p.ReadOnly)).ToList();
        var config = new GuestConfig(args.GuestArgs, args.Env, $"/proc/self/fd/{args.RootfsFd}", args.RootfsReadOnly, args.Cwd, preopens, args.MemoryLimitBytes, args.Http);
        using var stdout = new FdOutput(args.StdoutFd);
        using var stderr = new FdOutput(args.StderrFd);
        using var guest = engine.CreateGuest(module, config, new GuestStdio(args.Stdin ? "/proc/self/fd/0" : null, stdout, stderr));
        if (args.CpuQuotaUs is { } quota)
            guest.UpdateCpu(new GuestCpuLimit(quota, args.CpuPeriodUs));
        termination.Attach(guest);
        guest.Instantiate();
        NativeHeap.Trim();
        if (args.ControlFd >= 0)
        {
            guest.OomOccurred += oom => report.Line($"oom {oom.MemoryBytes} {oom.LimitBytes}");
            report.Line(module.Kind == WasmKind.Component ? "ready component" : "ready core");
            ControlReader.Start(args.ControlFd, guest, termination, report).WaitForStart();
        }
        return guest.Run();
    }

    // The daemon's compile cache entry when it handed one over (read through the descriptor: no path, no Landlock rule
    // for the cache), else a compile here. The engine opens paths; /proc/self/fd/N names the very file the privileged
    // side opened for us.
    private static GuestModule LoadModule(WasmEngine engine, GuestHostArgs args)
    {
        if (args.CompiledFd < 0)
        {
            Console.Error.WriteLine("containerd-shim-wasmkata-v2 guest-host: no compiled code was handed over; compiling the module here");
            return engine.Load($"/proc/self/fd/{args.ModuleFd}");
        }
        using var entry = new SafeFileHandle(args.CompiledFd, ownsHandle: true);
        return engine.LoadCompiled(entry, $"/proc/self/fd/{args.ModuleFd}", args.CompiledDigest);
    }
}

/// <summary>A kill before the guest exists is kept and delivered when it does (a kill before Instantiate counts).</summary>
internal sealed class Termination
{
    private readonly Lock _gate = new();
    private Guest? _guest;
    private int _signal;

    public void Request(int signal)
    {
        lock (_gate)
        {
            if (_signal == 0)
                _signal = signal;
            _guest?.Kill(_signal);
        }
    }

    public void Attach(Guest guest)
    {
        lock (_gate)
        {
            _guest = guest;
            if (_signal != 0)
                guest.Kill(_signal);
        }
    }
}

/// <summary>Lines to the report fd, whole and one at a time (the guest thread, the OOM event and the control thread write).</summary>
internal sealed class ReportWriter(int fd) : IDisposable
{
    private readonly FileStream _stream = new(new SafeFileHandle(fd, ownsHandle: false), FileAccess.Write, bufferSize: 0);
    private readonly Lock _gate = new();

    public void Line(string line)
    {
        lock (_gate)
        {
            try
            {
                _stream.Write(System.Text.Encoding.UTF8.GetBytes(line + "\n"));
            }
            catch (IOException)
            {
                // The parent went away: the exit status still tells.
            }
        }
    }

    public void Dispose() => _stream.Dispose();
}
