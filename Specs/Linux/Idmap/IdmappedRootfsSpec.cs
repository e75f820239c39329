using WasmKata.Linux;
using WasmKata.Linux.Idmap;
using WasmKata.Linux.Mounts;
using Xunit;

namespace WasmKata.Specs.Linux.Idmap;

[Trait("Requires", "root")]
public sealed class IdmappedRootfsSpec : IDisposable
{
    // A range of its own: the allocator specs use 3000000000, the guest-host specs 2100000.
    private static readonly IdRange Range = new(0, 3_100_000_000, IdRange.SandboxSize);
    private static readonly uint Root = Range.RootHostId;

    private readonly TempDirectory _dir = new();
    private readonly IdmapUserNamespace _userns = IdmapUserNamespace.Create(Range);

    public void Dispose()
    {
        _userns.Dispose();
        _dir.Dispose();
    }

    [Fact]
    public void A_bound_directory_must_show_roots_files_as_the_range_root_and_store_its_files_as_root()
    {
        var plain = _dir.CreateSub("plain");
        File.WriteAllText(Path.Combine(plain, "etc-file"), "root's");
        var rootfs = _dir.CreateSub("rootfs");

        IdmappedRootfs.Mount([new MountSpec("bind", plain, "", ["rbind", "rw"])], rootfs, _userns);

        Assert.Equal($"{Root}:{Root}", HostCommand.Owner(Path.Combine(rootfs, "etc-file")));
        Assert.Equal($"{Root}:{Root}", HostCommand.Owner(rootfs));
        Assert.Equal(0, HostCommand.RunAs(Root, "/usr/bin/sh", "-c", $"echo more >> {rootfs}/etc-file && touch {rootfs}/made").Exit);
        Assert.Equal("0:0", HostCommand.Owner(Path.Combine(plain, "made")));
        Assert.Equal("root'smore\n", File.ReadAllText(Path.Combine(plain, "etc-file")));

        // The same uid gets nowhere through the original directory.
        var refused = HostCommand.RunAs(Root, "/usr/bin/touch", Path.Combine(plain, "nope"));
        Assert.NotEqual(0, refused.Exit);
        Assert.Contains("Permission denied", refused.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void An_overlay_must_get_idmapped_layers_so_copy_up_and_new_files_are_roots_on_disk()
    {
        var (lower, upper, work) = Layers("a");
        File.WriteAllText(Path.Combine(lower, "from-image"), "image");
        var rootfs = _dir.CreateSub("rootfs");

        IdmappedRootfs.Mount([Overlay(lower, upper, work)], rootfs, _userns);

        Assert.Equal($"{Root}:{Root}", HostCommand.Owner(Path.Combine(rootfs, "from-image")));
        var wrote = HostCommand.RunAs(Root, "/usr/bin/sh", "-c", $"echo changed >> {rootfs}/from-image && mkdir {rootfs}/d && touch {rootfs}/d/made");
        Assert.True(wrote.Exit == 0, wrote.Output);
        Assert.Equal("0:0", HostCommand.Owner(Path.Combine(upper, "from-image")));
        Assert.Equal("0:0", HostCommand.Owner(Path.Combine(upper, "d", "made")));
        Assert.Equal("image", File.ReadAllText(Path.Combine(lower, "from-image")));
        Assert.Equal("imagechanged\n", File.ReadAllText(Path.Combine(rootfs, "from-image")));
        Assert.Contains(MountLines(), l => l.Contains(rootfs + " ", StringComparison.Ordinal) && l.Contains(" - overlay ", StringComparison.Ordinal));

        // The same layers in a plain overlay: the range's root is nobody there.
        var (_, upper2, work2) = Layers("b");
        var plain = _dir.CreateSub("plain-overlay");
        Mounts.MountAll([Overlay(lower, upper2, work2)], plain);
        Assert.NotEqual(0, HostCommand.RunAs(Root, "/usr/bin/touch", Path.Combine(plain, "nope")).Exit);
    }

    [Fact]
    public void Overlay_layers_must_keep_their_order_and_a_lower_only_overlay_must_be_read_only()
    {
        var top = _dir.CreateSub("top");
        var bottom = _dir.CreateSub("bottom");
        File.WriteAllText(Path.Combine(top, "x"), "top");
        File.WriteAllText(Path.Combine(bottom, "x"), "bottom");
        File.WriteAllText(Path.Combine(bottom, "only-below"), "b");
        var rootfs = _dir.CreateSub("rootfs");

        // What containerd sends for a view of an image (two layers or more, no upper).
        IdmappedRootfs.Mount([new MountSpec("overlay", "overlay", "", [$"lowerdir={top}:{bottom}"])], rootfs, _userns);

        Assert.Equal("top", File.ReadAllText(Path.Combine(rootfs, "x")));
        Assert.Equal("b", File.ReadAllText(Path.Combine(rootfs, "only-below")));
        Assert.Equal($"{Root}:{Root}", HostCommand.Owner(Path.Combine(rootfs, "only-below")));
        Assert.Contains(MountLines(), l => l.Split(' ')[4] == rootfs && l.Split(' ')[5].StartsWith("ro,", StringComparison.Ordinal));
        var refused = HostCommand.RunAs(Root, "/usr/bin/touch", Path.Combine(rootfs, "new"));
        Assert.Contains("Read-only file system", refused.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void A_detached_overlay_must_serve_the_range_root_through_its_fd_and_appear_in_no_mount_table()
    {
        var (lower, upper, work) = Layers("a");
        File.WriteAllText(Path.Combine(lower, "from-image"), "image");

        using (var detached = IdmappedRootfs.Create([Overlay(lower, upper, work)], _userns))
        {
            // What a guest host would get over its socket: the fd alone, no path.
            var exit = RunAsWithFd(Root, detached, "cat /proc/self/fd/3/from-image > /proc/self/fd/3/copied && mkdir /proc/self/fd/3/d");
            Assert.Equal(0, exit);
            Assert.DoesNotContain(MountLines(), l => l.Contains(" - overlay ", StringComparison.Ordinal) && l.Contains(upper, StringComparison.Ordinal));
        }

        Assert.Equal("image", File.ReadAllText(Path.Combine(upper, "copied")));
        Assert.Equal("0:0", HostCommand.Owner(Path.Combine(upper, "copied")));
        Assert.Equal("0:0", HostCommand.Owner(Path.Combine(upper, "d")));
    }

    [Fact]
    public void An_image_file_of_another_uid_must_keep_its_owner_in_the_range_and_one_past_it_must_be_read_only()
    {
        var plain = _dir.CreateSub("plain");
        foreach (var (name, owner) in new[] { ("app", 1000u), ("foreign", 70000u) })
        {
            var path = Path.Combine(plain, name);
            File.WriteAllText(path, "x");
            File.SetUnixFileMode(path, (UnixFileMode)0x1B6); // 0666
            Assert.Equal(0, Libc.Chown(path, owner, owner));
        }
        var rootfs = _dir.CreateSub("rootfs");

        IdmappedRootfs.Mount([new MountSpec("bind", plain, "", ["bind"])], rootfs, _userns);

        Assert.Equal($"{Root + 1000}:{Root + 1000}", HostCommand.Owner(Path.Combine(rootfs, "app")));
        Assert.Equal("65534:65534", HostCommand.Owner(Path.Combine(rootfs, "foreign")));
        Assert.Equal(0, HostCommand.RunAs(Root, "/usr/bin/sh", "-c", $"echo y >> {rootfs}/app").Exit);

        // The kernel refuses writes to an inode whose owner has no mapping, whatever its mode.
        var refused = HostCommand.RunAs(Root, "/usr/bin/sh", "-c", $"echo y >> {rootfs}/foreign");
        Assert.NotEqual(0, refused.Exit);
        Assert.Contains("Permission denied", refused.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void An_rbind_must_idmap_the_volumes_below_and_a_bind_must_leave_them_out()
    {
        var image = _dir.CreateSub("image");
        var volume = _dir.CreateSub("volume");
        File.WriteAllText(Path.Combine(volume, "data"), "v");
        Directory.CreateDirectory(Path.Combine(image, "vol"));
        Mounts.BindMount(volume, Path.Combine(image, "vol"), readOnly: false);
        var recursive = _dir.CreateSub("recursive");
        var single = _dir.CreateSub("single");

        IdmappedRootfs.Mount([new MountSpec("bind", image, "", ["rbind"])], recursive, _userns);
        IdmappedRootfs.Mount([new MountSpec("bind", image, "", ["bind"])], single, _userns);

        Assert.Equal($"{Root}:{Root}", HostCommand.Owner(Path.Combine(recursive, "vol", "data")));
        Assert.Equal(0, HostCommand.RunAs(Root, "/usr/bin/touch", Path.Combine(recursive, "vol", "new")).Exit);
        Assert.Equal("0:0", HostCommand.Owner(Path.Combine(volume, "new")));
        Assert.False(File.Exists(Path.Combine(single, "vol", "data")));
    }

    [Fact]
    public void A_read_only_bind_must_stay_read_only_for_the_range_root()
    {
        var plain = _dir.CreateSub("plain");
        File.WriteAllText(Path.Combine(plain, "f"), "x");
        var rootfs = _dir.CreateSub("rootfs");

        IdmappedRootfs.Mount([new MountSpec("bind", plain, "", ["rbind", "ro"])], rootfs, _userns);

        Assert.Equal($"{Root}:{Root}", HostCommand.Owner(Path.Combine(rootfs, "f")));
        var refused = HostCommand.RunAs(Root, "/usr/bin/touch", Path.Combine(rootfs, "g"));
        Assert.Contains("Read-only file system", refused.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void A_tree_with_a_filesystem_that_cannot_be_idmapped_must_be_refused_with_the_reason()
    {
        var (lower, upper, work) = Layers("a");
        var overlay = _dir.CreateSub("overlay");
        Mounts.MountAll([Overlay(lower, upper, work)], overlay);
        var image = _dir.CreateSub("image");
        Directory.CreateDirectory(Path.Combine(image, "proc"));
        Mounts.MountAll([new MountSpec("proc", "proc", "proc", [])], image);
        var target = _dir.CreateSub("target");

        var onOverlay = Assert.Throws<MountException>(() => IdmappedRootfs.Mount([new MountSpec("bind", overlay, "", ["bind"])], target, _userns));
        var withProc = Assert.Throws<MountException>(() => IdmappedRootfs.Mount([new MountSpec("bind", image, "", ["rbind"])], target, _userns));
        var tmpfs = Assert.Throws<MountException>(() => IdmappedRootfs.Mount([new MountSpec("tmpfs", "tmpfs", "", [])], target, _userns));

        Assert.Equal("EINVAL", onOverlay.ErrnoName);
        Assert.Contains("overlayfs, proc and sysfs cannot", onOverlay.Message, StringComparison.Ordinal);
        Assert.Contains(overlay, onOverlay.Message, StringComparison.Ordinal);
        Assert.Equal("EINVAL", withProc.ErrnoName);
        Assert.Equal("EOPNOTSUPP", tmpfs.ErrnoName);
        Assert.False(Mounts.IsMountPoint(target));
    }

    [Fact]
    public void A_bad_overlay_must_be_refused_with_overlayfs_reason()
    {
        var (lower, upper, _) = Layers("a");
        var rootfs = _dir.CreateSub("rootfs");

        var missing = Assert.Throws<MountException>(() =>
            IdmappedRootfs.Mount([Overlay(Path.Combine(lower, "missing"), upper, _dir.Sub("a/work"))], rootfs, _userns));
        var noWork = Assert.Throws<MountException>(() =>
            IdmappedRootfs.Mount([new MountSpec("overlay", "overlay", "", [$"lowerdir={lower}", $"upperdir={upper}"])], rootfs, _userns));

        Assert.Equal("ENOENT", missing.ErrnoName);
        Assert.Contains("upperdir= and workdir= come together", noWork.Message, StringComparison.Ordinal);
        Assert.False(Mounts.IsMountPoint(rootfs));
    }

    [Fact]
    public void Cleanup_must_leave_no_mount_and_no_holder_process()
    {
        var holder = _userns.HolderPid;
        var plain = _dir.CreateSub("plain");
        var (lower, upper, work) = Layers("a");
        var bound = _dir.CreateSub("bound");
        var overlaid = _dir.CreateSub("overlaid");

        IdmappedRootfs.Mount([new MountSpec("bind", plain, "", ["rbind"])], bound, _userns);
        IdmappedRootfs.Mount([Overlay(lower, upper, work)], overlaid, _userns);
        Assert.Equal(2, MountLines().Count(l => l.Contains(_dir.Path, StringComparison.Ordinal)));
        Mounts.UnmountAll(bound);
        Mounts.UnmountAll(overlaid);
        _userns.Dispose();

        Assert.DoesNotContain(MountLines(), l => l.Contains(_dir.Path, StringComparison.Ordinal));
        Assert.False(ProcStat.TryRead(holder, out var stat) && stat.ParentPid == Environment.ProcessId, $"holder {holder} is still our child");
        Assert.DoesNotContain(WasmKata.Linux.Processes.ChildReaper.ListChildren(), pid => pid == holder);
    }

    [Fact]
    public void A_holder_that_fails_must_be_reported_in_its_own_words_and_reaped()
    {
        // env(1) in unshare's place: it refuses --user, as unshare refuses when user namespaces are off.
        var error = Assert.Throws<IOException>(() => IdmapUserNamespace.Create(Range, "/usr/bin/env"));

        Assert.Contains("/usr/bin/env --user -- /usr/bin/cat", error.Message, StringComparison.Ordinal);
        Assert.Contains("unrecognized option", error.Message, StringComparison.Ordinal);
        var pid = int.Parse(error.Message.Split("(pid ")[1].Split(')')[0], System.Globalization.CultureInfo.InvariantCulture);
        Assert.False(ProcStat.TryRead(pid, out var stat) && stat.ParentPid == Environment.ProcessId, $"holder {pid} is still our child");
    }

    [Fact]
    public void The_namespace_must_map_exactly_the_range()
    {
        using var userns = IdmapUserNamespace.Create(new IdRange(5, 3_200_000_000, 10));
        var plain = _dir.CreateSub("plain");
        File.WriteAllText(Path.Combine(plain, "nine"), "");
        File.WriteAllText(Path.Combine(plain, "ten"), "");
        Assert.Equal(0, Libc.Chown(Path.Combine(plain, "nine"), 9, 9));
        Assert.Equal(0, Libc.Chown(Path.Combine(plain, "ten"), 10, 10));
        var rootfs = _dir.CreateSub("rootfs");

        IdmappedRootfs.Mount([new MountSpec("bind", plain, "", ["bind"])], rootfs, userns);

        Assert.Equal("3200000009:3200000009", HostCommand.Owner(Path.Combine(rootfs, "nine")));
        Assert.Equal("65534:65534", HostCommand.Owner(Path.Combine(rootfs, "ten")));
    }

    /// <summary>Runs <c>sh -c script</c> as <paramref name="id"/> with the mount's fd as its fd 3; returns its exit code.</summary>
    private static int RunAsWithFd(uint id, IdmappedMount mount, string script)
    {
        string[] argv = ["setpriv", $"--reuid={id}", $"--regid={id}", "--clear-groups", "/usr/bin/sh", "-c", script];
        var pid = WasmKata.Linux.Processes.ChildReaper.SpawnClaimed(() => WasmKata.Linux.Processes.Spawner.Spawn(
            "/usr/bin/setpriv", argv, [], "/", [WasmKata.Linux.Processes.ChildFd.Dup(mount.Handle.DangerousFd, 3)], closeFrom: 4));
        try
        {
            Assert.Equal(pid, Interop.WaitPid(pid, out var status, 0));
            return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f);
        }
        finally
        {
            WasmKata.Linux.Processes.ChildReaper.Release(pid);
        }
    }

    private (string Lower, string Upper, string Work) Layers(string name)
    {
        var lower = _dir.CreateSub(name + "-lower");
        var snapshot = _dir.CreateSub(name);
        return (lower, Directory.CreateDirectory(Path.Combine(snapshot, "fs")).FullName, Directory.CreateDirectory(Path.Combine(snapshot, "work")).FullName);
    }

    private static MountSpec Overlay(string lower, string upper, string work) =>
        new("overlay", "overlay", "", [$"lowerdir={lower}", $"upperdir={upper}", $"workdir={work}", "index=off"]);

    private static string[] MountLines() => File.ReadAllLines("/proc/self/mountinfo");
}
