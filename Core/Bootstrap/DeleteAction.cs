using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using WasmKata.Core.Protos.TaskApi;
using WasmKata.Core.State;
using WasmKata.Linux.Cgroups;
using WasmKata.Linux.Mounts;
using WasmKata.Linux.Processes;
using WasmKata.Linux.Systemd;

namespace WasmKata.Core.Bootstrap;

/// <summary>
/// The <c>delete</c> action: containerd runs it after every teardown and after a shim died. Idempotent: it unmounts
/// what may be left of the rootfs, forgets the saved state, and answers like runc for a process it could not wait
/// for (137, now) unless the saved state knows the real exit.
/// </summary>
internal static class DeleteAction
{
    public static int Run(ShimArgs args, Stream stdout, StateStore store)
    {
        var bundle = args.Bundle.Length > 0 ? args.Bundle : Directory.GetCurrentDirectory();
        var state = store.Load(args.Namespace, args.Id);
        if (state is not null && state.Rootfs != Path.Combine(bundle, "rootfs"))
            Mounts.UnmountAll(state.Rootfs);
        Mounts.UnmountAll(Path.Combine(bundle, "rootfs"));
        RemoveSandboxCgroup(state);
        store.Remove(args.Namespace, args.Id);
        var response = new DeleteResponse
        {
            Pid = state?.InitPid ?? 0,
            ExitStatus = state?.ExitStatus ?? ExitStatus.Killed,
            ExitedAt = Timestamp.FromDateTimeOffset(state?.ExitedAt ?? DateTimeOffset.UtcNow),
        };
        response.WriteTo(stdout);
        stdout.Flush();
        return 0;
    }

    // A dead shim cannot remove its sandbox's cgroup: do it for it. Never while it lives (stopping a systemd scope would
    // kill it); kill(pid, 0) judges that in this process's pid namespace, which is the shim's.
    private static void RemoveSandboxCgroup(ContainerState? state)
    {
        if (state is not { Cgroup: { Length: > 0 } path, CgroupDriver: { Length: > 0 } driver } || (state.ShimPid > 0 && Signals.IsRunning(state.ShimPid)))
            return;
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            CgroupDrivers.RemoveAsync(driver, path, state.SystemdAddress ?? "", timeout.Token).GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ArgumentException or SystemdException)
        {
            // The rest of the clean-up still matters; containerd logs what the delete action writes to stderr.
            Console.Error.WriteLine($"cannot remove the sandbox's {driver} cgroup {path}: {e.Message}");
        }
    }
}
