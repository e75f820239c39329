using WasmKata.Core.Bootstrap;
using WasmKata.Core.State;
using WasmKata.Shim.Actions;
using WasmKata.Shim.GuestHost;

// containerd-shim-wasmkata-v2: containerd runs it for start and delete of every container; start spawns this same
// executable as the sandbox's daemon (serve), or hands the socket to a spare one.
// guest-host has flags of its own (and a guest's arguments) that containerd's parsing must not see; it confines itself
// before anything else runs, while only the runtime's own threads exist.
if (args.Length > 0 && args[0] == "guest-host")
    return GuestHostAction.Run(args[1..]);
// A big module's optimised code for the compile cache, in a process of its own (the daemon does not wait for it).
if (args.Length > 0 && args[0] == CompileAction.Name)
    return CompileAction.Run(args[1..]);
var shimArgs = ShimArgs.Parse(args);
if (shimArgs.Version)
{
    Console.WriteLine($"containerd-shim-wasmkata-v2 {typeof(ShimArgs).Assembly.GetName().Version}");
    return 0;
}
if (shimArgs.Info)
    return InfoAction.Run(Console.OpenStandardOutput());
var self = Environment.ProcessPath!;
try
{
    return shimArgs.Action switch
    {
        "start" => StartAction.Run(shimArgs, Console.Out, self, self),
        "delete" => DeleteAction.Run(shimArgs, Console.OpenStandardOutput(), new StateStore(StateStore.DefaultRootPath)),
        "serve" => await ServeAction.RunAsync(shimArgs),
        "spare" => await SpareAction.RunAsync(shimArgs),
        _ => Usage(shimArgs.Action),
    };
}
catch (Exception e) when (shimArgs.Action is "start" or "delete" && e is IOException or UnauthorizedAccessException or ArgumentException)
{
    // containerd puts a shim's stderr in its own log: one line that says what failed.
    Console.Error.WriteLine($"containerd-shim-wasmkata-v2: {e.Message}");
    return 1;
}

static int Usage(string action)
{
    Console.Error.WriteLine($"containerd-shim-wasmkata-v2: unknown action \"{action}\"; containerd runs this with start or delete");
    return 2;
}
