using Xunit;

namespace WasmKata.Specs.EndToEnd.Docker;

/// <summary>The fetched docker CLI, pointed at the private dockerd (its own --config folder, -H its socket).</summary>
public sealed class DockerCli(string binary, string runDir, Func<string> daemonLogTail)
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(60);

    /// <summary>Runs `docker ARGS` to its end; on timeout kills it and fails with its output and the daemons' logs.</summary>
    public Task<ProcessResult> RunAsync(IEnumerable<string> args, TimeSpan? timeout = null) =>
        ChildProcess.RunAsync(binary, Global.Concat(args), timeout ?? DefaultTimeout, null, daemonLogTail);

    public Task<ProcessResult> RunAsync(params string[] args) => RunAsync(args, timeout: null);

    /// <summary>The command line that runs this docker (binary and global options), for a spec that starts it itself.</summary>
    public IEnumerable<string> CommandLine => Global.Prepend(binary);

    /// <summary>Runs `docker ARGS`, asserts it succeeded and returns its stdout without the last newline.</summary>
    public async Task<string> OutputAsync(params string[] args)
    {
        var result = await RunAsync(args);
        Assert.True(result.ExitCode == 0, Explain(result));
        return result.StdoutText.TrimEnd('\n');
    }

    /// <summary>`docker inspect -f FORMAT ID`.</summary>
    public Task<string> InspectAsync(string id, string format) => OutputAsync("inspect", "-f", format, id);

    /// <summary>Polls `docker inspect -f FORMAT` until it prints <paramref name="expected"/>; fails with the last answer otherwise.</summary>
    public async Task WaitForAsync(string id, string format, string expected, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        string seen;
        while ((seen = await InspectAsync(id, format)) != expected)
        {
            Assert.True(DateTime.UtcNow < deadline,
                $"{id}: `{format}` did not become `{expected}` within {timeout.TotalSeconds:F0} s (last: `{seen}`)\n{daemonLogTail()}");
            await Task.Delay(100);
        }
    }

    /// <summary>Best-effort removal of a container; never throws.</summary>
    public async Task ForceRemoveAsync(string id)
    {
        try
        {
            await RunAsync(["rm", "-f", id], TimeSpan.FromSeconds(30));
        }
        catch (Exception)
        {
            // Cleanup only: the spec's own failure is the one worth reporting.
        }
    }

    /// <summary>A result plus the tails of dockerd's and containerd's logs, for assertion messages.</summary>
    public string Explain(ProcessResult result) => result.Describe() + "\n" + daemonLogTail();

    private IEnumerable<string> Global => ["--config", Path.Combine(runDir, "cli"), "-H", "unix://" + Path.Combine(runDir, "docker.sock")];
}
