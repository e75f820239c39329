using WasmKata.Cli;

using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    // The first Ctrl-C ends `wasmkata events` in order (unsubscribing); a second one kills.
    e.Cancel = !cancel.IsCancellationRequested;
    cancel.Cancel();
};
return await CliProgram.RunAsync(args, Console.Out, Console.Error, cancel.Token);
