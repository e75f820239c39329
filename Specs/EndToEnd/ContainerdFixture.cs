using System.Security.Cryptography;
using System.Text;
using Xunit;

namespace WasmKata.Specs.EndToEnd;

/// <summary>
/// One private containerd for the whole end-to-end collection, started and stopped by the same
/// Specs/EndToEnd/containerd.sh that `./build.sh demo` uses. Its PATH holds the shim (out/bin or
/// $WASMKATA_SHIM_DIR); its log's tail goes into assertion messages and a copy into out/test-results.
/// The repo root is the first folder above the test assembly holding WasmKata.sln, or $WASMKATA_REPO_ROOT.
/// </summary>
public class ContainerdFixture : IAsyncLifetime
{
    public const string ShimBinary = "containerd-shim-wasmkata-v2";

    private const string ShimSocketDir = "/run/containerd/s";

    public ContainerdFixture()
        : this("e2e", null)
    {
    }

    /// <summary>A containerd under /tmp/wk-KIND-*; its ctr works in namespace NS, or a fresh one per run.</summary>
    protected ContainerdFixture(string kind, string? ns, string ctrBinary = "ctr")
    {
        RepoRoot = FindRepoRoot();
        ShimDir = Environment.GetEnvironmentVariable("WASMKATA_SHIM_DIR") is { Length: > 0 } dir
            ? Path.GetFullPath(dir)
            : Path.Combine(RepoRoot, "out", "bin");
        GuestsDir = Path.Combine(RepoRoot, "out", "guests");
        var suffix = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
        // Short: the gRPC socket lives here and socket paths must stay under 108 bytes.
        RunDir = $"/tmp/wk-{kind}-{suffix}";
        Ctr = new Ctr(Path.Combine(RunDir, "containerd.sock"), ns ?? $"wasmkata-e2e-{suffix}", () => LogTail(), ctrBinary);
        Images = new OciImages(this);
    }

    public string RepoRoot { get; }

    /// <summary>
    /// <c>ctr run --rm</c> of <paramref name="image"/> through the shim as a new container <paramref name="prefix"/>-N,
    /// with <paramref name="options"/> before the image and <paramref name="command"/> after the id.
    /// </summary>
    public async Task<ProcessResult> RunWasmAsync(
        WasmImage image, string prefix, string[]? options = null, string[]? command = null, byte[]? stdin = null,
        TimeSpan? timeout = null)
    {
        var name = await Images.WasmAsync(image);
        return await Ctr.RunAsync(Ctr.RunArgs(Ctr.WasmRuntime, name, NewId(prefix), options, command ?? []), stdin, timeout);
    }

    public string ShimDir { get; }

    public string GuestsDir { get; }

    public string RunDir { get; }

    public string LogPath => Path.Combine(RunDir, "containerd.log");

    public Ctr Ctr { get; }

    public OciImages Images { get; }

    public string ScriptPath(string name) => Path.Combine(RepoRoot, "Specs", "EndToEnd", name);

    /// <summary>Options of `containerd.sh start` beyond the shim directory.</summary>
    protected virtual IEnumerable<string> StartOptions => [];

    /// <summary>Variables added to containerd's environment (which it passes on to shims), as NAME=VALUE.</summary>
    protected virtual IEnumerable<string> ContainerdEnvironment => [];

    public virtual async Task InitializeAsync()
    {
        if (!Environment.IsPrivilegedProcess)
        {
            throw new InvalidOperationException(
                "end-to-end specs need root (they start containerd); run as root or filter with Requires!=root");
        }

        var start = await ChildProcess.RunAsync(
            "env", [.. ContainerdEnvironment, "bash", ScriptPath("containerd.sh"), "start", "--shim-dir", ShimDir, .. StartOptions, RunDir], TimeSpan.FromSeconds(60));
        if (start.ExitCode != 0)
            throw new InvalidOperationException("could not start the private containerd: " + start.Describe());
    }

    /// <summary>Stops containerd (SIGTERM; shims live on in their own sessions) and starts it again on the same state.</summary>
    public async Task RestartContainerdAsync()
    {
        var pidFile = Path.Combine(RunDir, "containerd.pid");
        var pid = int.Parse(await File.ReadAllTextAsync(pidFile));
        WasmKata.Linux.Processes.Signals.TrySend(pid, 15);
        // Specs may make this test host a child subreaper, and then the old containerd lingers as our zombie:
        // wait until it no longer runs, and drop its pid file so the start script does not mistake it for alive.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (IsRunning(pid) && DateTime.UtcNow < deadline)
            await Task.Delay(50);

        if (IsRunning(pid))
            throw new InvalidOperationException($"containerd {pid} did not stop within 20 s");

        File.Delete(pidFile);
        await InitializeAsync();
    }

    /// <summary>Alive and not a zombie.</summary>
    public static bool IsRunning(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..][0] != 'Z';
        }
        catch (IOException)
        {
            return false;
        }
    }

    public virtual async Task DisposeAsync()
    {
        try
        {
            var keep = Path.Combine(RepoRoot, "out", "test-results");
            Directory.CreateDirectory(keep);
            File.Copy(LogPath, Path.Combine(keep, $"containerd-{Path.GetFileName(RunDir)}.log"), overwrite: true);
        }
        catch (IOException)
        {
            // No log to keep; stopping still matters more.
        }

        await ChildProcess.RunAsync("bash", [ScriptPath("containerd.sh"), "stop", RunDir], TimeSpan.FromSeconds(60));
        RemoveNamespaceCgroups();
    }

    // ctr gives each container the cgroups path /<namespace>/<id>; the shim removes its own, the namespace level is ours.
    private void RemoveNamespaceCgroups()
    {
        foreach (var hierarchy in Directory.Exists("/sys/fs/cgroup") ? Directory.GetDirectories("/sys/fs/cgroup") : [])
        {
            try
            {
                var dir = Path.Combine(hierarchy, Ctr.Namespace);
                if (Directory.Exists(dir))
                    Directory.Delete(dir);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Not empty (a cgroup left behind, which the specs that made it report) or not ours to remove.
            }
        }
    }

    /// <summary>A container id no other spec of this run uses.</summary>
    public static string NewId(string prefix) =>
        $"{prefix}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4))}";

    /// <summary>The last lines of containerd's debug log (shim start-up errors and stderr land there).</summary>
    public string LogTail(int lines = 60)
    {
        try
        {
            using var stream = new FileStream(LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            using var reader = new StreamReader(stream);
            var all = reader.ReadToEnd().Split('\n');
            return $"--- containerd log, last {lines} lines ({LogPath}) ---\n" +
                   string.Join('\n', all.TakeLast(lines));
        }
        catch (IOException e)
        {
            return $"--- containerd log unreadable: {e.Message} ---";
        }
    }

    /// <summary>The bundle directory containerd creates for a task of this run.</summary>
    public string BundleDir(string id) =>
        Path.Combine(RunDir, "state", "io.containerd.runtime.v2.task", Ctr.Namespace, id);

    /// <summary>Where a shim following runc's convention puts its socket: sha256 of address/namespace/id.</summary>
    public string ConventionalShimSocket(string id)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes($"{Ctr.Address}/{Ctr.Namespace}/{id}"));
        return Path.Combine(ShimSocketDir, Convert.ToHexStringLower(hash));
    }

    /// <summary>Socket files currently in the shared shim socket directory.</summary>
    public static IReadOnlySet<string> ShimSockets() =>
        Directory.Exists(ShimSocketDir) ? Directory.GetFiles(ShimSocketDir).ToHashSet() : new HashSet<string>();

    /// <summary>
    /// Pids of wasmkata shims serving this run's containerd (their -address is its socket). Spares waiting for a
    /// hand-over are not shims yet (<see cref="SpareProcesses"/>); an adopted one is.
    /// </summary>
    public IReadOnlyList<int> ShimProcesses() => ProcessesOfThisContainerd().Where(pid => !IsWaitingSpare(pid)).ToList();

    /// <summary>Pids of spares of this run's containerd that wait for a hand-over.</summary>
    public IReadOnlyList<int> SpareProcesses() => ProcessesOfThisContainerd().Where(IsWaitingSpare).ToList();

    /// <summary>
    /// A spare until adopted: its action is <c>spare</c> and it is named wasmkata-spare, or (before it names itself,
    /// while its comm is still the executable's) it runs at nice 19, which it leaves only when adopted.
    /// </summary>
    public static bool IsWaitingSpare(int pid)
    {
        try
        {
            var argv = File.ReadAllText($"/proc/{pid}/cmdline").Split('\0', StringSplitOptions.RemoveEmptyEntries);
            if (argv.Length == 0 || argv[^1] != "spare")
                return false;

            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var nice = stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[16];
            return File.ReadAllText($"/proc/{pid}/comm").Trim() == "wasmkata-spare" || nice == "19";
        }
        catch (IOException)
        {
            return false;
        }
    }

    private List<int> ProcessesOfThisContainerd()
    {
        var pids = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
                continue;

            string[] argv;
            try
            {
                argv = File.ReadAllText(Path.Combine(dir, "cmdline")).Split('\0');
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                continue; // Exited while we looked.
            }

            if (Path.GetFileName(argv[0]) == ShimBinary && argv.Contains(Ctr.Address))
                pids.Add(pid);
        }

        return pids;
    }

    /// <summary>Mount points in this mount namespace that lie inside PATH.</summary>
    public static IReadOnlyList<string> MountsUnder(string path) =>
        File.ReadLines("/proc/self/mountinfo")
            .Select(line => line.Split(' ')[4])
            .Where(mountPoint => mountPoint == path || mountPoint.StartsWith(path + "/", StringComparison.Ordinal))
            .ToList();

    private static string FindRepoRoot()
    {
        if (Environment.GetEnvironmentVariable("WASMKATA_REPO_ROOT") is { Length: > 0 } root)
            return Path.GetFullPath(root);

        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "WasmKata.sln")))
                return dir.FullName;
        }

        throw new InvalidOperationException($"no WasmKata.sln above {AppContext.BaseDirectory}");
    }
}
