namespace WasmKata.Specs.EndToEnd;

/// <summary>
/// A private containerd of another Debian suite, which Specs/EndToEnd/deps.sh fetches into a cache (once; nothing is
/// installed into the system) before it starts. The collection's own <see cref="ContainerdFixture"/> is Debian 12's.
/// </summary>
public abstract class FetchedContainerdFixture : ContainerdFixture
{
    private readonly string _depsCommand;

    /// <param name="kind">the run directory's tag (/tmp/wk-KIND-*)</param>
    /// <param name="binDir">where deps.sh puts containerd and ctr</param>
    /// <param name="depsCommand">the deps.sh command that fetches them</param>
    /// <param name="ns">ctr's namespace (null: a fresh one)</param>
    /// <param name="ctrBinary">the ctr to drive it with</param>
    protected FetchedContainerdFixture(string kind, string binDir, string depsCommand, string? ns, string ctrBinary)
        : base(kind, ns, ctrBinary)
    {
        BinDir = binDir;
        _depsCommand = depsCommand;
    }

    public string BinDir { get; }

    protected override IEnumerable<string> StartOptions => ["--containerd-dir", BinDir];

    /// <summary>A cache folder: $VARIABLE when set, else /var/cache/wasmkata/NAME; containerd and ctr are in root/usr/bin.</summary>
    protected static string CacheBinDir(string variable, string name) => Path.Combine(
        Environment.GetEnvironmentVariable(variable) is { Length: > 0 } cache ? cache : Path.Combine("/var/cache/wasmkata", name),
        "root", "usr", "bin");

    public override async Task InitializeAsync()
    {
        if (!File.Exists(Path.Combine(BinDir, "containerd")))
        {
            var fetch = await ChildProcess.RunAsync("bash", [ScriptPath("deps.sh"), _depsCommand], TimeSpan.FromMinutes(3));
            if (fetch.ExitCode != 0)
                throw new InvalidOperationException($"cannot fetch containerd ({_depsCommand}): " + fetch.Describe());
        }

        await base.InitializeAsync();
    }
}

/// <summary>
/// Debian trixie's containerd 1.7 (WASMKATA_CONTAINERD17_CACHE, default /var/cache/wasmkata/containerd17), driven by
/// its own ctr.
/// </summary>
public class Containerd17Fixture : FetchedContainerdFixture
{
    public Containerd17Fixture()
        : this(null)
    {
    }

    protected Containerd17Fixture(string? ns)
        : base("c17", Bin, "containerd17", ns, Path.Combine(Bin, "ctr"))
    {
    }

    public static string Bin => CacheBinDir("WASMKATA_CONTAINERD17_CACHE", "containerd17");
}

/// <summary>
/// Debian sid's containerd 2.x (WASMKATA_CONTAINERD2_CACHE, default /var/cache/wasmkata/containerd2) with a version 3
/// config, driven by Debian 12's ctr: 2.x's ctr refuses to unpack an image whose platform (wasip1/wasm) is not the
/// host's.
/// </summary>
public class Containerd2Fixture : FetchedContainerdFixture
{
    public Containerd2Fixture()
        : this(null)
    {
    }

    protected Containerd2Fixture(string? ns)
        : base("c2", Bin, "containerd2", ns, "ctr")
    {
    }

    public static string Bin => CacheBinDir("WASMKATA_CONTAINERD2_CACHE", "containerd2");
}
