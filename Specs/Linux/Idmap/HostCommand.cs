using System.Diagnostics;

namespace WasmKata.Specs.Linux.Idmap;

/// <summary>Runs a host program to completion: the real setpriv, stat and sleep the idmap specs act through.</summary>
internal static class HostCommand
{
    internal static (int Exit, string Output) Run(params string[] argv)
    {
        var start = new ProcessStartInfo(argv[0]) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in argv.Skip(1))
            start.ArgumentList.Add(arg);

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, (output.Result + error).Trim());
    }

    /// <summary>Runs <paramref name="argv"/> as host uid and gid <paramref name="id"/>, no groups, as a guest host would.</summary>
    internal static (int Exit, string Output) RunAs(uint id, params string[] argv) =>
        Run(["/usr/bin/setpriv", $"--reuid={id}", $"--regid={id}", "--clear-groups", .. argv]);

    /// <summary>"uid:gid" of <paramref name="path"/>.</summary>
    internal static string Owner(string path)
    {
        var (exit, output) = Run("/usr/bin/stat", "-c", "%u:%g", path);
        return exit == 0 ? output : throw new IOException($"stat {path}: {output}");
    }

    internal static Process StartSleeper(params string[] prefix)
    {
        var start = new ProcessStartInfo(prefix.Length == 0 ? "/usr/bin/sleep" : prefix[0]);
        foreach (var arg in prefix.Skip(1).Concat(prefix.Length == 0 ? ["600"] : ["/usr/bin/sleep", "600"]))
            start.ArgumentList.Add(arg);
        return Process.Start(start)!;
    }
}
