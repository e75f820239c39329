using Xunit;

namespace WasmKata.Specs.EndToEnd.Docker;

/// <summary>
/// A private dockerd of a Debian suite (fetched by Specs/EndToEnd/deps.sh into /var/cache/wasmkata/docker-SUITE, or
/// $WASMKATA_DOCKER_CACHE_SUITE) on a private containerd of its own, with the shim registered as runtime
/// <see cref="Runtime"/>; started and stopped by Specs/EndToEnd/dockerd.sh. Nothing touches a system docker: its
/// data, exec root, socket and CLI config are under <see cref="RunDir"/>, and it adds no iptables rule or bridge.
/// </summary>
public abstract class DockerFixture : IAsyncLifetime
{
    /// <summary>The name `docker run --runtime` takes for the shim.</summary>
    public const string Runtime = "wasmkata";

    protected DockerFixture(string suite, ContainerdFixture containerd)
    {
        Suite = suite;
        Containerd = containerd;
        RunDir = containerd.RunDir + "-docker";
        var cache = Environment.GetEnvironmentVariable("WASMKATA_DOCKER_CACHE_" + suite.ToUpperInvariant()) is { Length: > 0 } dir
            ? dir
            : $"/var/cache/wasmkata/docker-{suite}";
        UsrDir = Path.Combine(cache, "root", "usr");
        Docker = new DockerCli(Path.Combine(UsrDir, "bin", "docker"), RunDir, () => LogTail());
    }

    /// <summary>The Debian suite the docker packages come from.</summary>
    public string Suite { get; }

    /// <summary>The containerd dockerd uses (namespace moby); its PATH holds the shim.</summary>
    public ContainerdFixture Containerd { get; }

    public string RunDir { get; }

    /// <summary>Holds sbin/dockerd and bin/docker.</summary>
    public string UsrDir { get; }

    public DockerCli Docker { get; }

    public string LogPath => Path.Combine(RunDir, "dockerd.log");

    /// <summary>dockerd's pid, from its pid file.</summary>
    public int DaemonPid => int.Parse(File.ReadAllText(Path.Combine(RunDir, "dockerd.pid")));

    public async Task InitializeAsync()
    {
        if (!File.Exists(Path.Combine(UsrDir, "sbin", "dockerd")))
        {
            var fetch = await ChildProcess.RunAsync("bash", [Containerd.ScriptPath("deps.sh"), "docker", Suite], TimeSpan.FromMinutes(3));
            if (fetch.ExitCode != 0)
                throw new InvalidOperationException($"cannot fetch {Suite}'s docker: " + fetch.Describe());
        }

        await Containerd.InitializeAsync();
        var start = await ChildProcess.RunAsync("bash", [
            Containerd.ScriptPath("dockerd.sh"), "start", "--docker-dir", UsrDir,
            "--containerd", Path.Combine(Containerd.RunDir, "containerd.sock"),
            "--runtime", $"{Runtime}={Ctr.WasmRuntime}", RunDir,
        ], TimeSpan.FromSeconds(60));
        if (start.ExitCode != 0)
            throw new InvalidOperationException("could not start the private dockerd: " + start.Describe() + "\n" + Containerd.LogTail(30));
    }

    /// <summary>A wasm image loaded into this dockerd; its name.</summary>
    public Task<string> ImageAsync(WasmImage image) =>
        Containerd.Images.DockerWasmAsync(image, async (name, archive) =>
        {
            var load = await Docker.RunAsync("load", "-i", archive);
            Assert.True(load.ExitCode == 0 && load.StdoutText.Contains(name, StringComparison.Ordinal), Docker.Explain(load));
        });

    /// <summary>The tails of dockerd's and containerd's logs.</summary>
    public string LogTail(int lines = 40)
    {
        string docker;
        try
        {
            using var stream = new FileStream(LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            using var reader = new StreamReader(stream);
            docker = string.Join('\n', reader.ReadToEnd().Split('\n').TakeLast(lines));
        }
        catch (IOException e)
        {
            docker = "unreadable: " + e.Message;
        }

        return $"--- dockerd log, last {lines} lines ({LogPath}) ---\n{docker}\n{Containerd.LogTail(lines / 2)}";
    }

    public async Task DisposeAsync()
    {
        try
        {
            var keep = Path.Combine(Containerd.RepoRoot, "out", "test-results");
            Directory.CreateDirectory(keep);
            File.Copy(LogPath, Path.Combine(keep, $"dockerd-{Path.GetFileName(RunDir)}.log"), overwrite: true);
        }
        catch (IOException)
        {
            // No log to keep; stopping still matters more.
        }

        await ChildProcess.RunAsync("bash", [Containerd.ScriptPath("dockerd.sh"), "stop", RunDir], TimeSpan.FromSeconds(120));
        await Containerd.DisposeAsync();
    }
}

/// <summary>Debian trixie's dockerd 26 on trixie's containerd 1.7.</summary>
public sealed class DockerTrixieFixture() : DockerFixture("trixie", new MobyContainerd())
{
    private sealed class MobyContainerd() : Containerd17Fixture("moby");
}

/// <summary>Debian sid's dockerd 28 on sid's containerd 2.x.</summary>
public sealed class DockerSidFixture() : DockerFixture("sid", new MobyContainerd())
{
    private sealed class MobyContainerd() : Containerd2Fixture("moby");
}
