using System.Diagnostics;
using System.Globalization;
using System.Text;
using WasmKata.Linux.Io;
using Xunit;

namespace WasmKata.Specs.EndToEnd;

/// <summary>
/// The user's terminal for `ctr -t` and `docker -it`: a pty whose slave is the client's stdin, stdout and stderr; the
/// spec types on the master and reads what the user would see.
/// </summary>
internal sealed class UserTerminal : IDisposable
{
    private static readonly TimeSpan Long = TimeSpan.FromSeconds(20);

    private readonly Pty _pty;
    private readonly ChildProcess _client;
    private readonly MemoryStream _output = new();
    private readonly Lock _gate = new();

    private UserTerminal(Pty pty, ChildProcess client)
    {
        _pty = pty;
        _client = client;
        _ = ReadAsync();
    }

    /// <summary>Everything the terminal showed so far.</summary>
    public string Output
    {
        get
        {
            lock (_gate)
                return Encoding.UTF8.GetString(_output.GetBuffer(), 0, (int)_output.Length);
        }
    }

    /// <summary>Starts <paramref name="command"/> followed by <paramref name="args"/> on a new terminal of the given size.</summary>
    public static UserTerminal Start(IEnumerable<string> command, ushort columns, ushort rows, IEnumerable<string> args)
    {
        var pty = Pty.Open();
        pty.Resize(columns, rows);
        var line = string.Join(' ', command.Concat(args).Select(Quote));
        // Not a session leader, the client never takes the pty as its controlling terminal; ctr and docker need none.
        var child = ChildProcess.Start("sh", ["-c", $"exec {line} <>{pty.SlavePath} >&0 2>&0"]);
        return new UserTerminal(pty, child);
    }

    /// <summary>
    /// Fails unless a guest terminal of the shim that runs task <paramref name="pid"/> reaches the size: the shim holds
    /// each terminal's slave, and the task's pid is a thread of the shim, whose fds /proc shows.
    /// </summary>
    public static async Task AssertGuestTerminalSize(string pid, int columns, int rows)
    {
        var deadline = DateTime.UtcNow + Long;
        List<(string Path, (ushort, ushort) Size)> seen;
        while (true)
        {
            seen = new DirectoryInfo($"/proc/{pid}/fd").EnumerateFileSystemInfos()
                .Select(fd => fd.LinkTarget)
                .Where(target => target?.StartsWith("/dev/pts/", StringComparison.Ordinal) == true)
                .Distinct()
                .Select(target => (target!, Pty.WindowSizeOf(target!)))
                .ToList();
            if (seen.Any(t => t.Size == ((ushort)columns, (ushort)rows)) || DateTime.UtcNow > deadline)
                break;
            await Task.Delay(20);
        }
        Assert.True(seen.Any(t => t.Size == ((ushort)columns, (ushort)rows)),
            $"no terminal of the shim is {columns}x{rows}: {string.Join(", ", seen.Select(t => $"{t.Path} {t.Size}"))}");
    }

    public Task Type(string keys) => _pty.Master.WriteAsync(Encoding.ASCII.GetBytes(keys)).AsTask().WaitAsync(Long);

    /// <summary>Resizes the window and tells the client, as a terminal emulator's SIGWINCH would.</summary>
    public void Resize(ushort columns, ushort rows)
    {
        _pty.Resize(columns, rows);
        using var kill = Process.Start("kill", ["-WINCH", _client.Id.ToString(CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
    }

    /// <summary>Waits until the client has put the terminal in raw mode: keys typed before are echoed here, not by the guest's terminal.</summary>
    public async Task WaitUntilRaw()
    {
        var deadline = DateTime.UtcNow + Long;
        while (!Stty().Contains("-icanon", StringComparison.Ordinal))
        {
            if (DateTime.UtcNow > deadline)
                Assert.Fail($"the client never set its terminal raw: {Stty()}");
            await Task.Delay(20);
        }
    }

    /// <summary>Waits until the terminal showed <paramref name="expected"/>, CRs left out (clients keep mapping LF to CR LF in raw mode).</summary>
    public async Task WaitForOutput(string expected, Func<int, string> logTail)
    {
        var deadline = DateTime.UtcNow + Long;
        while (!Output.Replace("\r", "").Contains(expected, StringComparison.Ordinal))
        {
            if (DateTime.UtcNow > deadline)
                Assert.Fail($"the terminal never showed {Escape(expected)}; it shows {Escape(Output)}; stty: {Stty()}\n{logTail(60)}");
            await Task.Delay(20);
        }
    }

    public Task<ProcessResult> WaitAsync(TimeSpan timeout, Func<string> context) => _client.WaitAsync(timeout, context);

    public void Dispose()
    {
        _client.Kill();
        _client.Dispose();
        _pty.Dispose();
    }

    private string Stty()
    {
        using var stty = Process.Start(new ProcessStartInfo("stty", ["-a", "-F", _pty.SlavePath]) { RedirectStandardOutput = true })!;
        var text = stty.StandardOutput.ReadToEnd();
        stty.WaitForExit();
        return text;
    }

    private async Task ReadAsync()
    {
        var chunk = new byte[4096];
        try
        {
            int n;
            while ((n = await _pty.Master.ReadAsync(chunk)) > 0)
            {
                lock (_gate)
                    _output.Write(chunk, 0, n);
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException)
        {
            // The client left (EIO) or the spec is done.
        }
    }

    private static string Quote(string arg) => "'" + arg.Replace("'", "'\\''") + "'";

    private static string Escape(string text) => text.Replace("\r", "\\r").Replace("\n", "\\n").Replace("\x03", "^C").Replace("\x04", "^D");
}
