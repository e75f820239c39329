using System.Diagnostics;
using System.Text;
using Xunit;

namespace WasmKata.Specs.EndToEnd;

/// <summary>What a finished child process left: exit code, output and how long it ran.</summary>
public sealed record ProcessResult(string CommandLine, int ExitCode, byte[] Stdout, string Stderr, TimeSpan Elapsed)
{
    public string StdoutText => Encoding.UTF8.GetString(Stdout);

    /// <summary>A readable account for assertion messages; long output is cut in the middle.</summary>
    public string Describe() =>
        $"`{CommandLine}` exited {ExitCode} after {Elapsed.TotalMilliseconds:F0} ms\n" +
        $"--- stdout ({Stdout.Length} bytes) ---\n{ChildProcess.Abbreviate(StdoutText)}\n" +
        $"--- stderr ---\n{ChildProcess.Abbreviate(Stderr)}";
}

/// <summary>A started child process whose output is collected while it runs.</summary>
public sealed class ChildProcess : IDisposable
{
    private const int DescribeLimit = 4096;

    private readonly Process _process;
    private readonly Stopwatch _clock;
    private readonly MemoryStream _stdout = new();
    private readonly StringBuilder _stderr = new();
    private readonly Lock _gate = new();
    private readonly Task _pumps;

    private ChildProcess(Process process, byte[]? stdin, TimeSpan stdoutPause)
    {
        _process = process;
        _clock = Stopwatch.StartNew();
        CommandLine = string.Join(' ', process.StartInfo.ArgumentList.Prepend(process.StartInfo.FileName));
        _pumps = Task.WhenAll(PumpStdoutAsync(stdoutPause), PumpStderrAsync(), FeedStdinAsync(stdin));
    }

    public string CommandLine { get; }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>Starts a command; a <paramref name="stdoutPause"/> after each read of its stdout makes a slow reader.</summary>
    public static ChildProcess Start(string file, IEnumerable<string> args, byte[]? stdin = null, TimeSpan stdoutPause = default)
    {
        var info = new ProcessStartInfo(file)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in args)
            info.ArgumentList.Add(arg);

        var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {file}");
        return new ChildProcess(process, stdin, stdoutPause);
    }

    /// <summary>Runs a command to its end; on timeout kills it and fails with what it printed so far.</summary>
    public static async Task<ProcessResult> RunAsync(
        string file, IEnumerable<string> args, TimeSpan timeout, byte[]? stdin = null, Func<string>? context = null)
    {
        using var child = Start(file, args, stdin);
        return await child.WaitAsync(timeout, context);
    }

    /// <summary>Output collected so far, for waiting on a line while the process still runs.</summary>
    public string StdoutSoFar()
    {
        lock (_gate)
        {
            return Encoding.UTF8.GetString(_stdout.GetBuffer(), 0, (int)_stdout.Length);
        }
    }

    public async Task<ProcessResult> WaitAsync(TimeSpan timeout, Func<string>? context = null)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
            await _pumps.WaitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            Kill();
            var sofar = Snapshot(-1);
            Assert.Fail($"timed out after {timeout.TotalSeconds:F0} s and was killed: {sofar.Describe()}" +
                        (context is null ? "" : "\n" + context()));
        }

        return Snapshot(_process.ExitCode);
    }

    public void Kill()
    {
        try
        {
            _process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
    }

    public void Dispose()
    {
        if (!_process.HasExited)
            Kill();

        _process.Dispose();
    }

    // NULs (ctr prints one for an abstract socket name) would make CI logs look binary.
    internal static string Abbreviate(string raw) => Cut(raw.Replace("\0", "\\0", StringComparison.Ordinal));

    private static string Cut(string text) =>
        text.Length <= DescribeLimit
            ? text
            : string.Concat(
                text.AsSpan(0, DescribeLimit / 2),
                $"\n[... {text.Length - DescribeLimit} characters left out ...]\n",
                text.AsSpan(text.Length - (DescribeLimit / 2)));

    private ProcessResult Snapshot(int exitCode)
    {
        lock (_gate)
        {
            return new ProcessResult(CommandLine, exitCode, _stdout.ToArray(), _stderr.ToString(), _clock.Elapsed);
        }
    }

    private async Task PumpStdoutAsync(TimeSpan pause)
    {
        var buffer = new byte[81920];
        var stream = _process.StandardOutput.BaseStream;
        int n;
        while ((n = await stream.ReadAsync(buffer)) > 0)
        {
            lock (_gate)
            {
                _stdout.Write(buffer, 0, n);
            }

            if (pause > TimeSpan.Zero)
                await Task.Delay(pause);
        }
    }

    private async Task PumpStderrAsync()
    {
        var buffer = new char[4096];
        int n;
        while ((n = await _process.StandardError.ReadAsync(buffer)) > 0)
        {
            lock (_gate)
            {
                _stderr.Append(buffer, 0, n);
            }
        }
    }

    private async Task FeedStdinAsync(byte[]? stdin)
    {
        try
        {
            if (stdin is { Length: > 0 })
                await _process.StandardInput.BaseStream.WriteAsync(stdin);

            _process.StandardInput.Close();
        }
        catch (IOException)
        {
            // The reader went away early (a guest that does not read); its exit code tells the story.
        }
    }
}
