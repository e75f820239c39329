using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using WasmKata.Linux.Mounts;
using WasmKata.Shim.Protos.TaskApi;

namespace WasmKata.Shim.Actions;

/// <summary>
/// The <c>delete</c> action: containerd runs it after every teardown and after a shim died. Idempotent: it unmounts
/// what may be left of the rootfs and answers like runc does for a process it could not wait for (137, now).
/// </summary>
internal static class DeleteAction
{
    public static int Run(ShimArgs args, Stream stdout)
    {
        var bundle = args.Bundle.Length > 0 ? args.Bundle : Directory.GetCurrentDirectory();
        Mounts.UnmountAll(Path.Combine(bundle, "rootfs"));
        var response = new DeleteResponse { Pid = 0, ExitStatus = 137, ExitedAt = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow) };
        response.WriteTo(stdout);
        stdout.Flush();
        return 0;
    }
}
