using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using WasmKata.Core;
using WasmKata.Core.Plan;
using WasmKata.Engine;
using WasmKata.Linux.Confinement;

namespace WasmKata.Shim.GuestHost;

/// <summary>
/// <c>containerd-shim-wasmkata-v2 guest-host ...</c>: confines itself (docs/guest-host.md) and runs one wasm module
/// handed over as descriptors, then writes one line to the report fd: <c>exit N</c>, or <c>error TEXT</c> when it
/// could not confine itself or start the guest (exit status 255). Stage 1 (as root) ends in an exec of stage 2.
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

        using var report = new FileStream(new SafeFileHandle(parsed.ReportFd, ownsHandle: false), FileAccess.Write, bufferSize: 0);
        try
        {
            if (!parsed.Stage2)
            {
                GuestHostConfinement.ConfineAndExec(
                    parsed.Uid, parsed.Gid, parsed.RootfsFd, parsed.RootfsReadOnly, parsed.ModuleFd, parsed.Stdin ? [0] : [], parsed.ToStage2Args);
                return Failed;
            }
            GuestHostConfinement.FinishAfterExec(SeccompFilter.Build(GuestHostSyscalls.All, parsed.Seccomp));
            var exit = RunGuest(parsed);
            Report(report, $"exit {exit.Status}");
            return exit.Status;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException
                                      or PlatformNotSupportedException or ArgumentException
                                      or InvalidModuleException or GuestStartException)
        {
            Report(report, $"error {e.Message.ReplaceLineEndings(" ")}");
            Console.Error.WriteLine($"containerd-shim-wasmkata-v2 guest-host: {e.Message}");
            return Failed;
        }
    }

    private static GuestExit RunGuest(GuestHostArgs args)
    {
        // SIGTERM is taken over first: one that comes while the engine starts still ends as a reported 143.
        var termination = new Termination();
        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
        {
            context.Cancel = true;
            termination.Request();
        });
        using var engine = new WasmEngine(new EngineOptions());
        // The engine opens paths; /proc/self/fd/N names the very file the privileged side opened for us.
        var module = engine.Load($"/proc/self/fd/{args.ModuleFd}");
        var config = new GuestConfig(args.GuestArgs, args.Env, $"/proc/self/fd/{args.RootfsFd}", args.RootfsReadOnly, "/", [], args.MemoryLimitBytes);
        using var stdout = new FdOutput(1);
        using var stderr = new FdOutput(2);
        using var guest = engine.CreateGuest(module, config, new GuestStdio(args.Stdin ? "/proc/self/fd/0" : null, stdout, stderr));
        termination.Attach(guest);
        guest.Instantiate();
        return guest.Run();
    }

    /// <summary>A SIGTERM before the guest exists is kept and delivered when it does (a kill before Instantiate counts).</summary>
    private sealed class Termination
    {
        private readonly Lock _gate = new();
        private Guest? _guest;
        private bool _requested;

        public void Request()
        {
            lock (_gate)
            {
                _requested = true;
                _guest?.Kill(SignalNumber.Term);
            }
        }

        public void Attach(Guest guest)
        {
            lock (_gate)
            {
                _guest = guest;
                if (_requested)
                    guest.Kill(SignalNumber.Term);
            }
        }
    }

    private static void Report(FileStream report, string line)
    {
        try
        {
            report.Write(System.Text.Encoding.UTF8.GetBytes(line + "\n"));
        }
        catch (IOException)
        {
            // The parent went away: the exit status still tells.
        }
    }
}
