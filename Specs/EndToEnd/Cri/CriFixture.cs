using Xunit;

namespace WasmKata.Specs.EndToEnd.Cri;

/// <summary>
/// A second private containerd, with the CRI plugin on (containerd.sh --cri) and runtime handler "wasmkata"
/// registered with options.ConfigPath. The other end-to-end specs keep their lean containerd without CRI. Its ctr
/// works in CRI's namespace, k8s.io, where the pause image and the wasm images are imported.
/// </summary>
public sealed class CriFixture : ContainerdFixture
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
        : base("cri", "k8s.io")
    {
        Client = new CriClient(Path.Combine(RunDir, "containerd.sock"));
    }

    /// <summary>The configuration.toml the runtime options name (a copy of the commented example).</summary>
    public string RuntimeConfigPath => Path.Combine(RunDir, "configuration.toml");

    public string BadConfigPath => Path.Combine(RunDir, "bad-configuration.toml");

    /// <summary>Pod log directories go below this.</summary>
    public string LogRoot => Path.Combine(RunDir, "pods");

    public CriClient Client { get; }

    protected override IEnumerable<string> StartOptions =>
    [
        "--cri", PauseImage,
        "--cri-handler", $"{Handler}={RuntimeConfigPath}",
        "--cri-handler", $"{BadConfigHandler}={BadConfigPath}",
    ];

    public override async Task InitializeAsync()
    {
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
