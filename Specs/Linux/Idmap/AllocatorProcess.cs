using System.Diagnostics;
using System.Globalization;
using WasmKata.Linux.Idmap;

namespace WasmKata.Specs.Linux.Idmap;

/// <summary>
/// One of many processes allocating at once: says "ready", waits for a line on stdin (the start signal, so all
/// allocate together), allocates COUNT sandboxes PREFIX-0.. and prints "SANDBOX SLOT" for each.
/// </summary>
internal static class AllocatorProcess
{
    internal static int Run(string[] args)
    {
        if (args.Length != 5)
            return 2;

        var allocator = new IdRangeAllocator(uint.Parse(args[1], CultureInfo.InvariantCulture), int.Parse(args[2], CultureInfo.InvariantCulture), args[0]);
        Console.Out.WriteLine("ready");
        Console.Out.Flush();
        Console.In.ReadLine();
        for (var i = 0; i < int.Parse(args[4], CultureInfo.InvariantCulture); i++)
        {
            var sandbox = $"{args[3]}-{i}";
            Console.Out.WriteLine($"{sandbox} {allocator.Allocate(sandbox).Range.Slot}");
        }

        return 0;
    }

    /// <summary>Starts this assembly as a program in <c>idmap-allocate</c> mode, stdin and stdout on pipes.</summary>
    internal static Process Start(string directory, uint firstHostId, int ranges, string prefix, int count)
    {
        var dotnet = Path.GetFileName(Environment.ProcessPath) == "dotnet" ? Environment.ProcessPath! : "/usr/bin/dotnet";
        var assembly = typeof(AllocatorProcess).Assembly.Location;
        var start = new ProcessStartInfo(dotnet) { RedirectStandardInput = true, RedirectStandardOutput = true };
        foreach (var arg in new[]
        {
            "exec", "--runtimeconfig", Path.ChangeExtension(assembly, ".runtimeconfig.json"), "--depsfile", Path.ChangeExtension(assembly, ".deps.json"),
            assembly, "idmap-allocate", directory, firstHostId.ToString(CultureInfo.InvariantCulture),
            ranges.ToString(CultureInfo.InvariantCulture), prefix, count.ToString(CultureInfo.InvariantCulture),
        })
        {
            start.ArgumentList.Add(arg);
        }

        return Process.Start(start)!;
    }
}
