using System.Security.Cryptography;
using System.Text;
using Xunit;

namespace WasmKata.Specs.EndToEnd;

/// <summary>A wasm image: a guest from out/guests at /app.wasm, plus whatever else its rootfs should hold.</summary>
public sealed record WasmImage(string Guest)
{
    /// <summary>Text files, by absolute path in the image.</summary>
    public IReadOnlyDictionary<string, string> Files { get; init; } = new Dictionary<string, string>();

    /// <summary>More guests, by absolute path in the image (e.g. a second program to exec).</summary>
    public IReadOnlyDictionary<string, string> Guests { get; init; } = new Dictionary<string, string>();

    /// <summary>Files of any bytes (e.g. a generated module), by absolute path in the image.</summary>
    public IReadOnlyDictionary<string, byte[]> Binaries { get; init; } = new Dictionary<string, byte[]>();

    /// <summary>Symbolic links, by absolute path in the image, to their target as written.</summary>
    public IReadOnlyDictionary<string, string> Symlinks { get; init; } = new Dictionary<string, string>();

    /// <summary>The image config's Env (containerd puts it before `ctr run --env` values).</summary>
    public IReadOnlyList<string> Env { get; init; } = [];

    /// <summary>The image config's WorkingDir (containerd makes it the process's cwd).</summary>
    public string WorkingDir { get; init; } = "/";

    internal string Key =>
        string.Join('\n', new[] { Guest }
            .Concat(Files.OrderBy(f => f.Key, StringComparer.Ordinal).Select(f => $"file {f.Key}={f.Value}"))
            .Concat(Guests.OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => $"guest {g.Key}={g.Value}"))
            .Concat(Symlinks.OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => $"link {l.Key}={l.Value}"))
            .Concat(Binaries.OrderBy(b => b.Key, StringComparer.Ordinal).Select(b => $"bytes {b.Key}={Convert.ToHexStringLower(SHA256.HashData(b.Value))}"))
            .Concat(Env.Select(e => $"env {e}"))
            .Concat(WorkingDir == "/" ? [] : [$"workdir {WorkingDir}"]));
}

/// <summary>
/// Builds images with Specs/EndToEnd/oci-image.sh (the demo's builder too) and imports them into the private
/// containerd with the native snapshotter; each distinct image is built and imported once per run.
/// </summary>
public sealed class OciImages(ContainerdFixture fixture)
{
    private readonly Dictionary<string, Task<string>> _built = new();
    private readonly Lock _gate = new();

    private string WorkDir => Path.Combine(fixture.RunDir, "images");

    /// <summary>The name of an imported image holding the guest and extras.</summary>
    public Task<string> WasmAsync(WasmImage image) =>
        Cached(image.Key, () => BuildAsync(
            $"localhost/wasmkata-e2e/{image.Guest}:{ShortHash(image.Key)}",
            rootfs => PopulateWasm(image, rootfs),
            [.. image.Env.SelectMany(e => new[] { "--env", e }), "--workdir", image.WorkingDir]));

    /// <summary>
    /// The same image as `docker load` takes it, loaded by <paramref name="load"/> (name, archive); its name. Its platform
    /// is linux/wasm: dockerd's own image store (26, 28) refuses to load an image of another OS than linux.
    /// </summary>
    public Task<string> DockerWasmAsync(WasmImage image, Func<string, string, Task> load) =>
        Cached("docker\n" + image.Key, async () =>
        {
            var name = $"localhost/wasmkata-e2e/{image.Guest}:d{ShortHash(image.Key)}";
            var tar = await BuildArchiveAsync(name, rootfs => PopulateWasm(image, rootfs),
                ["--docker", "--platform", "linux/wasm", .. image.Env.SelectMany(e => new[] { "--env", e })]);
            await load(name, tar);
            return name;
        });

    /// <summary>
    /// An image of the directory <paramref name="tree"/> (copied whole) plus text <paramref name="files"/>, run as
    /// <paramref name="entrypoint"/> in <paramref name="workingDir"/>: a real program as its package ships it.
    /// </summary>
    public Task<string> TreeAsync(string name, string tree, IReadOnlyDictionary<string, string> files, string workingDir, string entrypoint) =>
        Cached($"tree {name}\n{tree}\n{workingDir}\n{entrypoint}\n" + string.Join('\n', files.OrderBy(f => f.Key, StringComparer.Ordinal).Select(f => $"{f.Key}={f.Value}")),
            () => BuildAsync($"localhost/wasmkata-e2e/{name}:1", rootfs =>
            {
                CopyTree(tree, rootfs);
                foreach (var (path, text) in files)
                    File.WriteAllText(InRootfs(rootfs, path), text);
            }, ["--workdir", workingDir, "--entrypoint", entrypoint]));

    /// <summary>A static busybox image for runc: /bin/busybox with sh, echo, cat and sleep links.</summary>
    public Task<string> BusyboxAsync() =>
        Cached("busybox", () => BuildAsync(
            "localhost/wasmkata-e2e/busybox:static",
            PopulateBusybox,
            ["--platform", "linux/amd64", "--entrypoint", "/bin/sh"]));

    /// <summary>
    /// A pod's sandbox (pause) image for CRI: linux/amd64 with entrypoint /pause. The shim never executes it (a
    /// pod's sandbox container is a placeholder), so /pause is only a note saying so.
    /// </summary>
    public Task<string> PauseAsync() =>
        Cached("pause", () => BuildAsync(
            "localhost/wasmkata-e2e/pause:1",
            rootfs => File.WriteAllText(InRootfs(rootfs, "/pause"), "wasmkata runs a pod's sandbox container as a placeholder\n"),
            ["--platform", "linux/amd64", "--entrypoint", "/pause"]));

    /// <summary>The bytes of a compiled guest from out/guests.</summary>
    public byte[] GuestBytes(string guest)
    {
        var path = Path.Combine(fixture.GuestsDir, guest + ".wasm");
        if (!File.Exists(path))
            throw new FileNotFoundException($"guest {path} is missing: run ./build.sh first", path);

        return File.ReadAllBytes(path);
    }

    private Task<string> Cached(string key, Func<Task<string>> build)
    {
        lock (_gate)
        {
            if (!_built.TryGetValue(key, out var task) || task.IsFaulted)
                _built[key] = task = build();

            return task;
        }
    }

    private async Task<string> BuildAsync(string name, Action<string> populate, IEnumerable<string> options)
    {
        var tar = await BuildArchiveAsync(name, populate, options);
        var import = await fixture.Ctr.RunAsync(["images", "import", "--snapshotter", "native", tar],
            timeout: TimeSpan.FromSeconds(180));
        Assert.True(import.ExitCode == 0, "image import failed: " + fixture.Ctr.Explain(import));
        return name;
    }

    // Builds the image archive with oci-image.sh and returns its path.
    private async Task<string> BuildArchiveAsync(string name, Action<string> populate, IEnumerable<string> options)
    {
        var dir = Path.Combine(WorkDir, ShortHash(name));
        var rootfs = Path.Combine(dir, "rootfs");
        var tar = Path.Combine(dir, "image.tar");
        Directory.CreateDirectory(rootfs);
        populate(rootfs);

        var build = await ChildProcess.RunAsync(
            "bash",
            [fixture.ScriptPath("oci-image.sh"), .. options, name, rootfs, tar],
            TimeSpan.FromSeconds(180));
        Assert.True(build.ExitCode == 0, "oci-image.sh failed: " + build.Describe());
        return tar;
    }

    private void PopulateWasm(WasmImage image, string rootfs)
    {
        File.WriteAllBytes(InRootfs(rootfs, "/app.wasm"), GuestBytes(image.Guest));
        foreach (var (path, guest) in image.Guests)
            File.WriteAllBytes(InRootfs(rootfs, path), GuestBytes(guest));

        foreach (var (path, text) in image.Files)
            File.WriteAllText(InRootfs(rootfs, path), text);

        foreach (var (path, bytes) in image.Binaries)
            File.WriteAllBytes(InRootfs(rootfs, path), bytes);

        foreach (var (path, target) in image.Symlinks)
            File.CreateSymbolicLink(InRootfs(rootfs, path), target);
    }

    private static void PopulateBusybox(string rootfs)
    {
        foreach (var dir in new[] { "/bin", "/proc", "/sys", "/dev", "/tmp", "/etc" })
            Directory.CreateDirectory(InRootfs(rootfs, dir));

        File.Copy("/bin/busybox", InRootfs(rootfs, "/bin/busybox"));
        foreach (var applet in new[] { "sh", "echo", "cat", "sleep" })
            File.CreateSymbolicLink(InRootfs(rootfs, "/bin/" + applet), "busybox");
    }

    private static void CopyTree(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var dir in Directory.EnumerateDirectories(from, "*", SearchOption.AllDirectories))
            Directory.CreateDirectory(Path.Combine(to, Path.GetRelativePath(from, dir)));
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
            File.Copy(file, Path.Combine(to, Path.GetRelativePath(from, file)), overwrite: true);
    }

    // Creates the parent folders of an absolute in-image path and returns its place under rootfs.
    private static string InRootfs(string rootfs, string path)
    {
        var full = Path.Combine(rootfs, path.TrimStart('/'));
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        return full;
    }

    private static string ShortHash(string text) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..12];
}
