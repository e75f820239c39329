using System.Diagnostics;
using System.Globalization;

namespace WasmKata.Specs.EndToEnd.GuestHost;

/// <summary>What a guest host left: its exit status, the guest's output and the line on the report fd.</summary>
internal sealed record GuestHostResult(int ExitCode, string Stdout, string Stderr, string Report)
{
    public string Describe() => $"exit {ExitCode}, report \"{Report}\"\n--- stdout ---\n{Stdout}\n--- stderr ---\n{Stderr}";
}

/// <summary>
/// Starts a program in <c>guest-host</c> mode the way the privileged side will: as root, with the rootfs directory on
/// fd 3, the module on fd 4 and the report pipe's file on fd 5 (bash opens them, then execs the program).
/// </summary>
internal sealed class GuestHostRun : IDisposable
{
    /// <summary>A host uid and gid no account uses here: the spec's guest hosts run as this.</summary>
    public const uint Uid = 2_100_000;

    /// <summary>0755: the spec's temporary directory must be traversable by the guest host's uid.</summary>
    public const UnixFileMode Rwxrxrx = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;

    private readonly Process _process;
    private readonly string _reportPath;
    private readonly Task<string> _stdout;
    private readonly Task<string> _stderr;

    private GuestHostRun(Process process, string reportPath)
    {
        _process = process;
        _reportPath = reportPath;
        _stdout = process.StandardOutput.ReadToEndAsync();
        _stderr = process.StandardError.ReadToEndAsync();
    }

    public int Pid => _process.Id;

    public static string Shim => Path.Combine(ShimUnderTest.ShimDir, "containerd-shim-wasmkata-v2");

    /// <summary>The program the daemon runs guest hosts with, published beside the shim.</summary>
    public static string GuestHost => Path.Combine(ShimUnderTest.ShimDir, "wasmkata-guest-host");

    public static string Guest(string name) => Path.Combine(ShimUnderTest.GuestsDir, name + ".wasm");

    /// <summary>
    /// Starts <paramref name="program"/> <c>guest-host</c> with <paramref name="flags"/> (uid, gid and the fds are added)
    /// and <paramref name="guestArgs"/> after <c>--</c>. <paramref name="stdin"/> is written to the guest's stdin and closed.
    /// </summary>
    public static GuestHostRun Start(
        string program, string rootfs, string module, string reportPath, IReadOnlyList<string> flags, IReadOnlyList<string> guestArgs,
        string? stdin = null)
    {
        var start = new ProcessStartInfo("bash")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.Environment.Clear();
        start.Environment["PATH"] = "/usr/bin:/bin";
        string[] argv =
        [
            "-c", "r=$1 m=$2 o=$3; shift 3; exec 3<\"$r\" 4<\"$m\" 5>\"$o\"; exec \"$@\"", "guest-host-spec", rootfs, module, reportPath,
            program, "guest-host", "-uid", Id, "-gid", Id, "-rootfs-fd", "3", "-module-fd", "4", "-report-fd", "5", .. flags,
            .. (stdin is null ? Array.Empty<string>() : ["-stdin"]), "--", .. guestArgs,
        ];
        foreach (var arg in argv)
            start.ArgumentList.Add(arg);
        var process = Process.Start(start) ?? throw new InvalidOperationException("bash did not start");
        if (stdin is not null)
            process.StandardInput.Write(stdin);
        process.StandardInput.Close();
        return new GuestHostRun(process, reportPath);
    }

    private static string Id => Uid.ToString(CultureInfo.InvariantCulture);

    public async Task<GuestHostResult> WaitAsync(TimeSpan? timeout = null)
    {
        using var cancel = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(30));
        await _process.WaitForExitAsync(cancel.Token);
        var report = File.Exists(_reportPath) ? (await File.ReadAllTextAsync(_reportPath)).Trim() : "";
        return new GuestHostResult(_process.ExitCode, await _stdout, await _stderr, report);
    }

    public void Dispose()
    {
        if (!_process.HasExited)
            _process.Kill();
        _process.Dispose();
    }
}
