using System.Globalization;
using WasmKata.Linux.Confinement;
using Xunit;

namespace WasmKata.Specs.EndToEnd;

/// <summary>
/// guest_isolation = "process" with each sandbox's own id range (docs/guest-host.md, "The uid: one id range per
/// sandbox"): a guest host runs as its range's first id, and the rootfs and bind mounts reach it idmapped through the
/// range, so the guest writes root's files and what it writes is root's on disk, as under runc. WASI has no uid: a
/// guest is always the image's root, whatever the spec's process.user says.
/// </summary>
[Collection(EndToEndCollection.Name)]
[Trait("Category", "EndToEnd")]
[Trait("Requires", "root")]
[Trait("Runtime", "wasmkata")]
public sealed class WasmGuestProcessIdmapSpec
{
    private const uint BlockBase = 2_100_000;
    private const uint RangeSize = 65536;
    private const string SlotDirectory = "/run/wasmkata/uids";

    private readonly ContainerdFixture _fixture;
    private readonly string _config;

    public WasmGuestProcessIdmapSpec(ContainerdFixture fixture)
    {
        _fixture = fixture;
        _config = Path.Combine(fixture.RunDir, "guest-process-idmap.toml");
        File.WriteAllText(_config, "[wasmkata]\nguest_isolation = \"process\"\nguest_host_seccomp = \"kill\"\n");
    }

    private Ctr Ctr => _fixture.Ctr;

    [Fact]
    public async Task A_guest_must_write_root_owned_rootfs_files_that_stay_roots_on_disk()
    {
        var image = new WasmImage("writefile") { Files = new Dictionary<string, string> { ["/data/old.txt"] = "old\n" } };
        var id = ContainerdFixture.NewId("idmap-rootfs");
        try
        {
            var run = await Ctr.RunAsync(Ctr.RunArgs(Ctr.WasmRuntime, await _fixture.Images.WasmAsync(image), id,
                ["--runtime-config-path", _config], "/app.wasm", "/data/old.txt=rewritten", "/data/new.txt=created", "/top.txt=at the root"));

            Assert.True(run.ExitCode == 0, Ctr.Explain(run));
            Assert.Equal("/data/old.txt: ok\n/data/new.txt: ok\n/top.txt: ok\n", run.StdoutText);
            // The native snapshotter's container snapshot is the rootfs on disk, bound (idmapped) into the guest host.
            var rootfs = SnapshotHolding(id, "data/new.txt");
            Assert.Equal(("created", "0:0"), (File.ReadAllText(Path.Combine(rootfs, "data/new.txt")), await OwnerAsync(Path.Combine(rootfs, "data/new.txt"))));
            Assert.Equal(("rewritten", "0:0"), (File.ReadAllText(Path.Combine(rootfs, "data/old.txt")), await OwnerAsync(Path.Combine(rootfs, "data/old.txt"))));
            Assert.Equal("0:0", await OwnerAsync(Path.Combine(rootfs, "top.txt")));
        }
        finally
        {
            await Ctr.ForceRemoveAsync(id);
        }
    }

    [Fact]
    public async Task A_guest_must_write_a_root_owned_bind_mount_and_not_a_read_only_one()
    {
        var rw = HostDirectory("rw");
        File.WriteAllText(Path.Combine(rw, "old.txt"), "old\n");
        var ro = HostDirectory("ro");

        var run = await _fixture.RunWasmAsync(new WasmImage("writefile"), "idmap-bind",
            ["--rm", "--runtime-config-path", _config,
                "--mount", $"type=bind,src={rw},dst=/out,options=rbind:rw", "--mount", $"type=bind,src={ro},dst=/in,options=rbind:ro"],
            ["/app.wasm", "/out/old.txt=rewritten", "/out/new.txt=created", "/in/new.txt=refused"]);

        Assert.True(run.ExitCode == 1, Ctr.Explain(run));
        var lines = run.StdoutText.Split('\n');
        Assert.True(lines[0] == "/out/old.txt: ok" && lines[1] == "/out/new.txt: ok", Ctr.Explain(run));
        Assert.True(lines[2].StartsWith("/in/new.txt: ", StringComparison.Ordinal) && lines[2] != "/in/new.txt: ok", Ctr.Explain(run));
        Assert.Equal(("created", "0:0"), (File.ReadAllText(Path.Combine(rw, "new.txt")), await OwnerAsync(Path.Combine(rw, "new.txt"))));
        Assert.Equal(("rewritten", "0:0"), (File.ReadAllText(Path.Combine(rw, "old.txt")), await OwnerAsync(Path.Combine(rw, "old.txt"))));
        Assert.False(File.Exists(Path.Combine(ro, "new.txt")), "the read-only mount was written");
    }

    // A guest is the image's root (the range's first id): a file of uid 1000 shows as base + 1000 to it, so its mode's
    // "other" bits decide, and what it writes keeps its owner.
    [Fact]
    public async Task A_file_owned_by_1000_must_be_writable_only_as_its_mode_lets_others_write()
    {
        var dir = HostDirectory("user1000");
        var closed = Path.Combine(dir, "closed.txt");
        var open = Path.Combine(dir, "open.txt");
        File.WriteAllText(closed, "closed\n");
        File.WriteAllText(open, "open\n");
        File.SetUnixFileMode(closed, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        File.SetUnixFileMode(open, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite
            | UnixFileMode.OtherRead | UnixFileMode.OtherWrite);
        await ChownAsync("1000:1000", closed, open);

        var run = await _fixture.RunWasmAsync(new WasmImage("writefile"), "idmap-1000",
            ["--rm", "--runtime-config-path", _config, "--mount", $"type=bind,src={dir},dst=/home,options=rbind:rw"],
            ["/app.wasm", "/home/closed.txt=changed", "/home/open.txt=changed"]);

        Assert.True(run.StdoutText == "/home/closed.txt: Permission denied\n/home/open.txt: ok\n", Ctr.Explain(run));
        Assert.Equal(("closed\n", "changed"), (File.ReadAllText(closed), File.ReadAllText(open)));
        Assert.Equal("1000:1000", await OwnerAsync(open));
    }

    [Fact]
    public async Task Two_sandboxes_guest_hosts_must_run_as_different_ranges_roots()
    {
        await using var first = await StartSleeperAsync("idmap-a");
        await using var second = await StartSleeperAsync("idmap-b");

        var a = ConfinementStatus.Read($"/proc/{await InitPidAsync(first.Id)}/status");
        var b = ConfinementStatus.Read($"/proc/{await InitPidAsync(second.Id)}/status");

        foreach (var status in new[] { a, b })
        {
            var uid = status.Uids[0];
            Assert.True(status.Uids.All(u => u == uid) && status.Gids.All(g => g == uid), status.ToString());
            Assert.True(uid >= BlockBase && (uid - BlockBase) % RangeSize == 0, $"uid {uid} is not a range's first id: {status}");
        }
        Assert.NotEqual(a.Uids[0], b.Uids[0]);
        Assert.Contains(first.Id, SlotOwners());
        Assert.Contains(second.Id, SlotOwners());
    }

    [Fact]
    public async Task Delete_must_release_the_range_and_leave_no_mount_guest_host_or_holder()
    {
        var container = await StartSleeperAsync("idmap-release");
        var pid = await InitPidAsync(container.Id);
        var uid = ConfinementStatus.Read($"/proc/{pid}/status").Uids[0];
        Assert.Contains(container.Id, SlotOwners());
        Assert.Contains(MountInfo(), line => line.Contains(container.Id, StringComparison.Ordinal));

        await container.DisposeAsync();

        // The daemon frees the slot as it exits, after its containers' mounts are gone. Other specs (and other runs on
        // the host) may take the freed range at once, so what is checked is this sandbox's: its slot, its mounts, its
        // guest host, and a holder process mapping the range (none runs once the namespace is made).
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        var left = Leftovers(container.Id, pid, uid);
        while (left.Count > 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
            left = Leftovers(container.Id, pid, uid);
        }
        Assert.True(left.Count == 0, "left after delete: " + string.Join("; ", left) + "\n" + _fixture.LogTail());
    }

    private static List<string> Leftovers(string id, int guestHost, uint rangeRoot)
    {
        var left = new List<string>();
        if (SlotOwners().Contains(id))
            left.Add("its uid slot");
        left.AddRange(MountInfo().Where(line => line.Contains(id, StringComparison.Ordinal)).Select(line => "mount " + line));
        var status = TryRead($"/proc/{guestHost}/status");
        if (status.Length > 0 && !status.Contains("State:\tZ", StringComparison.Ordinal)
            && status.Contains($"Uid:\t{rangeRoot.ToString(CultureInfo.InvariantCulture)}\t", StringComparison.Ordinal))
        {
            left.Add($"guest host {guestHost}");
        }

        left.AddRange(Holders(rangeRoot).Select(p => $"holder {p} mapping the range"));
        return left;
    }

    private async Task<DetachedContainer> StartSleeperAsync(string prefix) =>
        await DetachedContainer.StartAsync(Ctr, Ctr.WasmRuntime, await _fixture.Images.WasmAsync(new WasmImage("sleep")), prefix,
            ["--runtime-config-path", _config], "/app.wasm", "3600");

    private async Task<int> InitPidAsync(string id)
    {
        var ls = await Ctr.RunAsync("task", "ls");
        var row = ls.StdoutText.Split('\n').Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)).First(r => r.Length >= 2 && r[0] == id);
        return int.Parse(row[1], CultureInfo.InvariantCulture);
    }

    private string HostDirectory(string name)
    {
        var path = Path.Combine(_fixture.RunDir, "idmap-binds", ContainerdFixture.NewId(name));
        Directory.CreateDirectory(path);
        return path;
    }

    // The native snapshotter's snapshot directory of container ID: the one holding RELATIVE (a name only it has).
    private string SnapshotHolding(string id, string relative)
    {
        var snapshots = Path.Combine(_fixture.RunDir, "root", "io.containerd.snapshotter.v1.native", "snapshots");
        var found = Directory.EnumerateDirectories(snapshots).Where(d => File.Exists(Path.Combine(d, relative))).ToList();
        Assert.True(found.Count == 1, $"expected one snapshot of {id} holding {relative}, found {found.Count} in {snapshots}");
        return found[0];
    }

    private static async Task<string> OwnerAsync(string path)
    {
        var stat = await ChildProcess.RunAsync("stat", ["-c", "%u:%g", path], TimeSpan.FromSeconds(10));
        Assert.True(stat.ExitCode == 0, stat.Describe());
        return stat.StdoutText.Trim();
    }

    private static async Task ChownAsync(string owner, params string[] paths)
    {
        var chown = await ChildProcess.RunAsync("chown", [owner, .. paths], TimeSpan.FromSeconds(10));
        Assert.True(chown.ExitCode == 0, chown.Describe());
    }

    private static List<string> SlotOwners() =>
        Directory.Exists(SlotDirectory)
            ? Directory.EnumerateFiles(SlotDirectory).Where(f => !Path.GetFileName(f).StartsWith('.'))
                .SelectMany(f => TryRead(f).Split('\n')).Where(l => l.StartsWith("sandbox ", StringComparison.Ordinal)).Select(l => l[8..]).ToList()
            : [];

    private static string[] MountInfo() => File.ReadAllLines("/proc/self/mountinfo");

    // Live processes whose user namespace maps the range: a user namespace holder left behind.
    private static List<int> Holders(uint rangeRoot)
    {
        var found = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), CultureInfo.InvariantCulture, out var pid))
                continue;
            var map = TryRead(Path.Combine(dir, "uid_map")).Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var status = TryRead(Path.Combine(dir, "status"));
            if (map.Length >= 2 && map[1] == rangeRoot.ToString(CultureInfo.InvariantCulture) && !status.Contains("State:\tZ", StringComparison.Ordinal))
                found.Add(pid);
        }
        return found;
    }

    private static string TryRead(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (IOException)
        {
            return "";
        }
        catch (UnauthorizedAccessException)
        {
            return "";
        }
    }
}
