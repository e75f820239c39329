using System.Security.Cryptography;
using Grpc.Core;
using WasmKata.Specs.EndToEnd.Cri.V1;
using Xunit;

namespace WasmKata.Specs.EndToEnd.Cri;

/// <summary>One line of a CRI log file: <c>TIMESTAMP STREAM TAG CONTENT</c>.</summary>
public sealed record CriLogLine(DateTimeOffset Time, string Stream, string Tag, string Content)
{
    /// <summary>Parses a file written by containerd's CRI plugin; fails on a line that is not in the CRI format.</summary>
    public static IReadOnlyList<CriLogLine> ParseAll(string text) =>
        text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(Parse).ToList();

    private static CriLogLine Parse(string line)
    {
        var parts = line.Split(' ', 4);
        Assert.True(parts.Length == 4 && DateTimeOffset.TryParse(parts[0], out _) && parts[1] is "stdout" or "stderr" && parts[2] is "F" or "P",
            $"not a CRI log line: \"{line}\"");
        return new CriLogLine(DateTimeOffset.Parse(parts[0]), parts[1], parts[2], parts[3]);
    }
}

/// <summary>
/// A pod as kubelet makes one through CRI: host network (no CNI) unless asked, runtime handler wasmkata, logs under the
/// fixture's directory. Disposing stops and removes it, as kubelet does when the pod is deleted.
/// </summary>
public sealed class CriPod : IAsyncDisposable
{
    private readonly CriFixture _fixture;
    private bool _removed;

    private CriPod(CriFixture fixture, string id, PodSandboxConfig config)
    {
        _fixture = fixture;
        Id = id;
        Config = config;
    }

    public string Id { get; }

    public PodSandboxConfig Config { get; }

    private RuntimeService.RuntimeServiceClient Runtime => _fixture.Client.Runtime;

    /// <summary>
    /// RunPodSandbox with the wasmkata handler and NamespaceOption network = NODE, or with <paramref name="podNetwork"/>
    /// a network namespace of its own that CRI makes and CNI sets up (the fixture must have a CNI network).
    /// </summary>
    public static async Task<CriPod> RunAsync(CriFixture fixture, string name, string handler = CriFixture.Handler, bool podNetwork = false)
    {
        var uid = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
        var podName = $"{name}-{uid[..8]}";
        var config = new PodSandboxConfig
        {
            Metadata = new PodSandboxMetadata { Name = podName, Uid = uid, Namespace = "wasmkata-specs" },
            LogDirectory = Path.Combine(fixture.LogRoot, $"wasmkata-specs_{podName}_{uid}"),
            Linux = new LinuxPodSandboxConfig
            {
                SecurityContext = new LinuxSandboxSecurityContext
                {
                    NamespaceOptions = new NamespaceOption { Network = podNetwork ? NamespaceMode.Pod : NamespaceMode.Node, Pid = NamespaceMode.Container, Ipc = NamespaceMode.Pod },
                },
            },
        };
        if (podNetwork)
            config.Hostname = podName;
        var response = await fixture.Client.Runtime.RunPodSandboxAsync(
            new RunPodSandboxRequest { Config = config, RuntimeHandler = handler }, CriClient.Deadline());
        return new CriPod(fixture, response.PodSandboxId, config);
    }

    /// <summary>CreateContainer from IMAGE with ARGS after the image's entrypoint; its log at NAME/ATTEMPT.log.</summary>
    public async Task<string> CreateContainerAsync(
        string name, string image, IEnumerable<string> args, uint attempt = 0, Action<ContainerConfig>? customize = null)
    {
        var config = new ContainerConfig
        {
            Metadata = new ContainerMetadata { Name = name, Attempt = attempt },
            Image = new ImageSpec { Image = image },
            LogPath = $"{name}/{attempt}.log",
            Linux = new LinuxContainerConfig
            {
                SecurityContext = new LinuxContainerSecurityContext
                {
                    NamespaceOptions = new NamespaceOption { Network = Config.Linux.SecurityContext.NamespaceOptions.Network, Pid = NamespaceMode.Container, Ipc = NamespaceMode.Pod },
                },
            },
        };
        config.Args.AddRange(args);
        customize?.Invoke(config);
        var response = await Runtime.CreateContainerAsync(
            new CreateContainerRequest { PodSandboxId = Id, Config = config, SandboxConfig = Config }, CriClient.Deadline());
        return response.ContainerId;
    }

    public async Task<string> RunContainerAsync(
        string name, string image, IEnumerable<string> args, uint attempt = 0, Action<ContainerConfig>? customize = null)
    {
        var id = await CreateContainerAsync(name, image, args, attempt, customize);
        await Runtime.StartContainerAsync(new StartContainerRequest { ContainerId = id }, CriClient.Deadline());
        return id;
    }

    public async Task<ContainerStatusResponse> StatusAsync(string containerId, bool verbose = false) =>
        await Runtime.ContainerStatusAsync(new ContainerStatusRequest { ContainerId = containerId, Verbose = verbose }, CriClient.Deadline());

    /// <summary>Polls ContainerStatus until the container is in STATE; fails with the last status otherwise.</summary>
    public async Task<ContainerStatus> WaitForStateAsync(string containerId, ContainerState state, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var status = (await StatusAsync(containerId)).Status;
            if (status.State == state)
                return status;
            if (DateTime.UtcNow > deadline)
                Assert.Fail($"container {containerId} did not reach {state} within {timeout.TotalSeconds:F0} s: {status}\n{_fixture.LogTail()}");
            await Task.Delay(50);
        }
    }

    /// <summary>The host path of a container's CRI log file.</summary>
    public string LogPathOf(string name, uint attempt = 0) => Path.Combine(Config.LogDirectory, name, $"{attempt}.log");

    /// <summary>Waits until the container's log file holds at least COUNT lines, and returns them parsed.</summary>
    public async Task<IReadOnlyList<CriLogLine>> WaitForLogAsync(string name, int count, uint attempt = 0)
    {
        var path = LogPathOf(name, attempt);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        var text = "";
        while (DateTime.UtcNow < deadline)
        {
            text = File.Exists(path) ? await File.ReadAllTextAsync(path) : "";
            if (text.Count(c => c == '\n') >= count)
                return CriLogLine.ParseAll(text);
            await Task.Delay(50);
        }
        Assert.Fail($"{path} did not get {count} lines within 20 s; it holds:\n{text}\n{_fixture.LogTail()}");
        return [];
    }

    public async Task StopAsync() =>
        await Runtime.StopPodSandboxAsync(new StopPodSandboxRequest { PodSandboxId = Id }, CriClient.Deadline());

    public async Task RemoveAsync()
    {
        await Runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = Id }, CriClient.Deadline());
        _removed = true;
    }

    public async ValueTask DisposeAsync()
    {
        if (_removed)
            return;
        try
        {
            await StopAsync();
            await RemoveAsync();
        }
        catch (RpcException)
        {
            // Clean-up after a failed spec; the spec's own failure is the one worth reporting.
        }
    }
}
