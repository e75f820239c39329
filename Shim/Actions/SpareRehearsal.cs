using Akka.Actor;
using Serilog;
using WasmKata.Actors;
using WasmKata.Actors.Events;
using WasmKata.Actors.Sandbox;
using WasmKata.Core.Protos.TaskApi;
using WasmKata.Core.Spare;
using WasmKata.Linux.Processes;
using WasmKata.Shim.Service;
using WasmKata.Shim.Ttrpc;

namespace WasmKata.Shim.Actions;

/// <summary>
/// A spare's rehearsal: one throwaway container, created, started, waited for and deleted through the task API of a
/// sandbox of its own, while the spare waits at low priority. A fresh daemon's first container otherwise pays for
/// loading and compiling that whole path (ttrpc, task service, actors, module load, guest, output pump): several
/// hundred milliseconds that containerd would wait for. Nothing of it stays: no events leave, no cgroup or namespace
/// is made, its state and bundle are removed and its sandbox stopped.
/// </summary>
internal static class SpareRehearsal
{
    /// <summary>The rehearsal's folder in the spare directory is this and the spare's pid.</summary>
    public const string FolderPrefix = "rehearsal-";

    private const string Id = "rehearsal";

    // wat2wasm of: (module (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
    //   (memory (export "memory") 1) (data (i32.const 16) "rehearsal\n")
    //   (func (export "_start") (i32.store (i32.const 0) (i32.const 16)) (i32.store (i32.const 4) (i32.const 10))
    //     (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
    private static readonly byte[] Module =
    [
        0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x0c, 0x02, 0x60, 0x04, 0x7f, 0x7f, 0x7f, 0x7f, 0x01, 0x7f, 0x60,
        0x00, 0x00, 0x02, 0x23, 0x01, 0x16, 0x77, 0x61, 0x73, 0x69, 0x5f, 0x73, 0x6e, 0x61, 0x70, 0x73, 0x68, 0x6f, 0x74, 0x5f,
        0x70, 0x72, 0x65, 0x76, 0x69, 0x65, 0x77, 0x31, 0x08, 0x66, 0x64, 0x5f, 0x77, 0x72, 0x69, 0x74, 0x65, 0x00, 0x00, 0x03,
        0x02, 0x01, 0x01, 0x05, 0x03, 0x01, 0x00, 0x01, 0x07, 0x13, 0x02, 0x06, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 0x02, 0x00,
        0x06, 0x5f, 0x73, 0x74, 0x61, 0x72, 0x74, 0x00, 0x01, 0x0a, 0x1d, 0x01, 0x1b, 0x00, 0x41, 0x00, 0x41, 0x10, 0x36, 0x02,
        0x00, 0x41, 0x04, 0x41, 0x0a, 0x36, 0x02, 0x00, 0x41, 0x01, 0x41, 0x00, 0x41, 0x01, 0x41, 0x08, 0x10, 0x00, 0x1a, 0x0b,
        0x0b, 0x10, 0x01, 0x00, 0x41, 0x10, 0x0b, 0x0a, 0x72, 0x65, 0x68, 0x65, 0x61, 0x72, 0x73, 0x61, 0x6c, 0x0a,
    ];

    /// <summary>Runs it in a directory of its own under the spare directory; a failure only costs the warm-up.</summary>
    public static async Task RunAsync(DaemonCore core)
    {
        var dir = Path.Combine(SpareOptions.Directory, FolderPrefix + Environment.ProcessId);
        IActorRef? sandbox = null;
        try
        {
            var bundle = Directory.CreateDirectory(Path.Combine(dir, "bundle")).FullName;
            var rootfs = Directory.CreateDirectory(Path.Combine(bundle, "rootfs")).FullName;
            await File.WriteAllBytesAsync(Path.Combine(rootfs, "app.wasm"), Module);
            await File.WriteAllTextAsync(Path.Combine(bundle, "config.json"),
                """{"ociVersion":"1.0.2","process":{"args":["/app.wasm"],"env":[],"cwd":"/"},"root":{"path":"rootfs"}}""");
            var settings = new RuntimeSettings { Namespace = Id, StateRoot = Path.Combine(dir, "state"), ReapOrphans = false, DrainTimeout = TimeSpan.FromSeconds(1) };
            sandbox = core.System.ActorOf(SandboxProtocol.Props(core.Engine, new NoEvents(), settings, new NoLifetime()), Id);
            var socket = Path.Combine(dir, "task.sock");
            using var listener = UnixListener.Bind(socket);
            await using var server = new TtrpcServer(listener);
            new TaskService(sandbox, () => { }).Register(server);
            _ = server.RunAsync();
            await using var client = await TtrpcClient.ConnectAsync(socket);
            var timeout = TimeSpan.FromSeconds(10);
            const string service = "containerd.task.v2.Task";
            await client.CallAsync<CreateTaskRequest, CreateTaskResponse>(service, "Create",
                new CreateTaskRequest { Id = Id, Bundle = bundle, Stdout = "file://" + Path.Combine(dir, "stdout") }, timeout);
            await client.CallAsync<StartRequest, StartResponse>(service, "Start", new StartRequest { Id = Id }, timeout);
            await client.CallAsync<WaitRequest, WaitResponse>(service, "Wait", new WaitRequest { Id = Id }, timeout);
            await client.CallAsync<DeleteRequest, DeleteResponse>(service, "Delete", new DeleteRequest { Id = Id }, timeout);
        }
        catch (Exception e)
        {
            Log.Debug(e, "spare rehearsal failed; the first container will start slower");
        }
        finally
        {
            if (sandbox is not null)
                await sandbox.GracefulStop(TimeSpan.FromSeconds(5)).ContinueWith(_ => { }, TaskScheduler.Default);
            try
            {
                Directory.Delete(dir, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    private sealed class NoEvents : IEventSink
    {
        public Task PublishAsync(ShimEvent shimEvent, CancellationToken cancellationToken) => Task.CompletedTask;
    }

    private sealed class NoLifetime : IShimLifetime
    {
        public void RequestExit()
        {
        }
    }
}
