using WasmKata.Core.Bootstrap;
using WasmKata.Core.State;
using WasmKata.Linux.Processes;

// containerd-shim-wasmkata-v2, native: start and delete here, everything else in the managed shim beside it.
var self = Environment.ProcessPath!;
var managed = Path.Combine(Path.GetDirectoryName(self)!, StartAction.DaemonExecutable);
var shimArgs = ShimArgs.Parse(args);
try
{
    if (!shimArgs.Version && !shimArgs.Info)
    {
        switch (shimArgs.Action)
        {
            case "start":
                return StartAction.Run(shimArgs, Console.Out, managed, self);
            case "delete":
                return DeleteAction.Run(shimArgs, Console.OpenStandardOutput(), new StateStore(StateStore.DefaultRootPath));
        }
    }
    Exec.Replace(managed, [self, .. args]);
    return 127;
}
catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
{
    // containerd puts a shim's stderr in its own log: one line that says what failed.
    Console.Error.WriteLine($"containerd-shim-wasmkata-v2: {e.Message}");
    return 1;
}
