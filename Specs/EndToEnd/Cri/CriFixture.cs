using Xunit;

namespace WasmKata.Specs.EndToEnd.Cri;

/// <summary>
/// A second private containerd, with the CRI plugin on (containerd.sh --cri) and runtime handler "wasmkata"
/// registered with options.ConfigPath. The other end-to-end specs keep their lean containerd without CRI. Its ctr
/// works in CRI's namespace, k8s.io, where the pause image and the wasm images are imported.
/// </summary>
public class CriFixture : ContainerdFixture
{
    /// <summary>The CRI runtime handler (RuntimeClass handler) of the shim.</summary>
    public const string Handler = "wasmkata";

    /// <summary>A second handler of the same shim whose options name a configuration.toml with a misspelt key.</summary>
    public const string BadConfigHandler = "wasmkata-badconfig";

    /// <summary>The misspelt key in <see cref="BadConfigPath"/>.</summary>
    public const string BadConfigKey = "log_levle";

    /// <summary>What the sandbox_image setting names; built and imported before any pod runs.</summary>
    public const string PauseImage = "localhost/wasmkata-e2e/pause:1";

    public CriFixture()
        : this("cri", null, null, "ctr")
    {
    }

    /// <summary>A CRI containerd from <paramref name="containerdDir"/> (null: the one on PATH), which
    /// `deps.sh <paramref name="depsCommand"/>` fetches when it is missing.</summary>
    protected CriFixture(string kind, string? containerdDir, string? depsCommand, string ctrBinary)
        : base(kind, "k8s.io", ctrBinary)
    {
        ContainerdDir = containerdDir;
        DepsCommand = depsCommand;
        Client = new CriClient(Path.Combine(RunDir, "containerd.sock"));
    }

    private string? ContainerdDir { get; }

    private string? DepsCommand { get; }

    /// <summary>The configuration.toml the runtime options name (a copy of the commented example).</summary>
    public string RuntimeConfigPath => Path.Combine(RunDir, "configuration.toml");

    public string BadConfigPath => Path.Combine(RunDir, "bad-configuration.toml");

    /// <summary>Pod log directories go below this.</summary>
    public string LogRoot => Path.Combine(RunDir, "pods");

    public CriClient Client { get; }

    protected override IEnumerable<string> StartOptions =>
    [
        .. ContainerdDir is null ? Array.Empty<string>() : ["--containerd-dir", ContainerdDir],
        "--cri", PauseImage,
        "--cri-handler", $"{Handler}={RuntimeConfigPath}",
        "--cri-handler", $"{BadConfigHandler}={BadConfigPath}",
    ];

    public override async Task InitializeAsync()
    {
        if (ContainerdDir is not null && DepsCommand is not null && !File.Exists(Path.Combine(ContainerdDir, "containerd")))
        {
            var fetch = await ChildProcess.RunAsync("bash", [ScriptPath("deps.sh"), DepsCommand], TimeSpan.FromMinutes(3));
            if (fetch.ExitCode != 0)
                throw new InvalidOperationException($"cannot fetch containerd ({DepsCommand}): " + fetch.Describe());
        }

        Directory.CreateDirectory(RunDir);
        File.Copy(Path.Combine(RepoRoot, "Config", "configuration.toml"), RuntimeConfigPath, overwrite: true);
        await File.WriteAllTextAsync(BadConfigPath, $"[runtime]\nname = \"wasm_container\"\n[wasmkata]\n{BadConfigKey} = \"debug\"\n");
        await base.InitializeAsync();
        Assert.Equal(PauseImage, await Images.PauseAsync());
    }

    public override async Task DisposeAsync()
    {
        Client.Dispose();
        await base.DisposeAsync();
    }
}

/// <summary>The CRI specs share one CRI-enabled containerd and run one at a time, apart from the other end-to-end specs.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class CriCollection : ICollectionFixture<CriFixture>
{
    public const string Name = "Cri";
}

/// <summary>The CRI containerd on Debian trixie's containerd 1.7 (with its own ctr), as <see cref="Containerd17Fixture"/>.</summary>
public sealed class Cri17Fixture() : CriFixture("cri17", Containerd17Fixture.Bin, "containerd17", Path.Combine(Containerd17Fixture.Bin, "ctr"));

/// <summary>The CRI specs on containerd 1.7, apart from the others.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class Cri17Collection : ICollectionFixture<Cri17Fixture>
{
    public const string Name = "Cri17";
}

/// <summary>
/// The CRI containerd on Debian sid's containerd 2.x (with Debian 12's ctr, as <see cref="Containerd2Fixture"/>), with
/// CRI's version 3 config: the handlers above use the default "podsandbox" sandboxer (a pause container), and
/// <see cref="SandboxHandler"/> the "shim" sandboxer (the shim serves the sandbox API). A CNI network gives pods their
/// own network namespace, which a "shim" sandbox needs on 2.1 (a host-network one panics containerd: its #12983).
/// </summary>
public sealed class Cri2Fixture() : CriFixture("cri2", Containerd2Fixture.Bin, "containerd2", "ctr")
{
    /// <summary>
    /// The runtime handler whose sandboxer is "shim". It has no options: 2.1's CRI reads a shim sandbox's runtime
    /// options as runc's to add the sandbox's address for StartContainer, and fails on any other type ("can't
    /// unmarshal type runtimeoptions.v1.Options"). The shim then takes its default configuration.
    /// </summary>
    public const string SandboxHandler = "wasmkata-sandbox";

    protected override IEnumerable<string> StartOptions =>
        [.. base.StartOptions, "--cri-handler", $"shim:{SandboxHandler}", "--cni"];
}

/// <summary>The CRI specs on containerd 2.x, apart from the others.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class Cri2Collection : ICollectionFixture<Cri2Fixture>
{
    public const string Name = "Cri2";
}
