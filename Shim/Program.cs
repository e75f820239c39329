using WasmKata.Core.Bootstrap;
using WasmKata.Core.State;
using WasmKata.Shim.Actions;

var shimArgs = ShimArgs.Parse(args);
if (shimArgs.Version)
{
    Console.WriteLine($"containerd-shim-wasmkata-v2 {typeof(ShimArgs).Assembly.GetName().Version}");
    return 0;
}
if (shimArgs.Info)
    return InfoAction.Run(Console.OpenStandardOutput());
return shimArgs.Action switch
{
    "start" => StartAction.Run(shimArgs, Console.Out, Environment.ProcessPath!, Environment.ProcessPath!),
    "delete" => DeleteAction.Run(shimArgs, Console.OpenStandardOutput(), new StateStore(StateStore.DefaultRootPath)),
    "serve" => await ServeAction.RunAsync(shimArgs),
    "spare" => await SpareAction.RunAsync(shimArgs),
    _ => Usage(shimArgs.Action),
};

static int Usage(string action)
{
    Console.Error.WriteLine($"containerd-shim-wasmkata-v2: unknown action \"{action}\"; containerd runs this with start or delete");
    return 2;
}
