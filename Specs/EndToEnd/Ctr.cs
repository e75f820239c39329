using Xunit;

namespace WasmKata.Specs.EndToEnd;

/// <summary>The real `ctr`, pointed at the private containerd and the run's namespace.</summary>
public sealed class Ctr(string address, string ns, Func<string> daemonLogTail, string binary = "ctr")
{
    public const string WasmRuntime = "io.containerd.wasmkata.v2";

    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    public string Address { get; } = address;

    public string Namespace { get; } = ns;

    /// <summary>Runs `ctr ARGS` to its end; on timeout kills it and fails with its output and containerd's log.</summary>
    public Task<ProcessResult> RunAsync(IEnumerable<string> args, byte[]? stdin = null, TimeSpan? timeout = null) =>
        ChildProcess.RunAsync(binary, Global.Concat(args), timeout ?? DefaultTimeout, stdin, daemonLogTail);

    public Task<ProcessResult> RunAsync(params string[] args) => RunAsync(args, stdin: null);

    /// <summary>Starts `ctr ARGS` and leaves it running (a foreground `ctr run` to be killed from elsewhere).</summary>
    public ChildProcess Start(IEnumerable<string> args, byte[]? stdin = null, TimeSpan stdoutPause = default) =>
        ChildProcess.Start(binary, Global.Concat(args), stdin, stdoutPause);

    /// <summary>The command line that runs this ctr (binary and global options), for a spec that starts it itself.</summary>
    public IEnumerable<string> CommandLine => Global.Prepend(binary);

    /// <summary>Arguments of `ctr run` with the native snapshotter; runtime null means containerd's default (runc).</summary>
    public static IEnumerable<string> RunArgs(
        string? runtime, string image, string id, IEnumerable<string>? options = null, params string[] command)
    {
        yield return "run";
        foreach (var option in options ?? ["--rm"])
            yield return option;

        yield return "--snapshotter";
        yield return "native";
        if (runtime is not null)
        {
            yield return "--runtime";
            yield return runtime;
        }

        yield return image;
        yield return id;
        foreach (var arg in command)
            yield return arg;
    }

    /// <summary>The STATUS column of `ctr task ls` for ID, or null when the task is not listed.</summary>
    public async Task<string?> TaskStatusAsync(string id)
    {
        var ls = await RunAsync("task", "ls");
        Assert.True(ls.ExitCode == 0, Explain(ls));
        return Rows(ls.StdoutText).Where(row => row[0] == id).Select(row => row[^1]).FirstOrDefault();
    }

    /// <summary>Polls `ctr task ls` until ID shows STATUS; fails with the last listing otherwise.</summary>
    public async Task WaitForTaskStatusAsync(string id, string status, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        string? seen;
        while ((seen = await TaskStatusAsync(id)) != status)
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"task {id} did not reach {status} within {timeout.TotalSeconds:F0} s " +
                            $"(last seen: {seen ?? "not listed"})\n{daemonLogTail()}");
            }

            await Task.Delay(50);
        }
    }

    /// <summary>Best-effort removal of a container a failed spec left behind; never throws.</summary>
    public async Task ForceRemoveAsync(string id)
    {
        string[][] steps = [["task", "kill", "-s", "SIGKILL", id], ["task", "delete", "--force", id], ["c", "rm", id]];
        foreach (var step in steps)
        {
            try
            {
                await RunAsync(step, timeout: TimeSpan.FromSeconds(10));
            }
            catch (Exception)
            {
                // Cleanup only: the spec's own failure is the one worth reporting.
            }
        }
    }

    /// <summary>The first column of each data row of a ctr listing (`task ls`, `c ls`, `task ps`).</summary>
    public static IReadOnlyList<string> FirstColumn(string listing) => Rows(listing).Select(row => row[0]).ToList();

    /// <summary>A ctr result plus the tail of containerd's log, for assertion messages.</summary>
    public string Explain(ProcessResult result) => result.Describe() + "\n" + daemonLogTail();

    private IEnumerable<string> Global => ["-a", Address, "-n", Namespace];

    private static IEnumerable<string[]> Rows(string listing) =>
        listing.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Skip(1)
            .Select(line => line.Split(' ', '\t').Where(cell => cell.Length > 0).ToArray())
            .Where(row => row.Length > 0);
}
