namespace WasmKata.Specs;

/// <summary>
/// The spec assembly run as a program (<c>dotnet exec WasmKata.Specs.dll MODE ...</c>): helper modes that specs start
/// as real processes when threads of the test host would not prove the point. <c>dotnet test</c> never calls it.
/// </summary>
internal static class SpecsProgram
{
    private static int Main(string[] args) => args switch
    {
        ["idmap-allocate", .. var rest] => Linux.Idmap.AllocatorProcess.Run(rest),
        _ => Usage(),
    };

    private static int Usage()
    {
        Console.Error.WriteLine("usage: WasmKata.Specs idmap-allocate DIR BASE RANGES PREFIX COUNT");
        return 2;
    }
}
