using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using WasmKata.Actors.Persist;
using WasmKata.Linux.Mounts;
using WasmKata.Shim.Protos.TaskApi;

namespace WasmKata.Shim.Actions;

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
        store.Remove(args.Namespace, args.Id);
        var response = new DeleteResponse
        {
            Pid = state?.InitPid ?? 0,
            ExitStatus = state?.ExitStatus ?? 137,
            ExitedAt = Timestamp.FromDateTimeOffset(state?.ExitedAt ?? DateTimeOffset.UtcNow),
        };
        response.WriteTo(stdout);
        stdout.Flush();
        return 0;
    }
}
