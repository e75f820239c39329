using WasmKata.Linux;
using WasmKata.Linux.Mounts;
using Xunit;

namespace WasmKata.Specs.Linux;

[Trait("Requires", "root")]
public sealed class MountsSpec : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void MountAll_must_mount_two_binds_in_order_and_make_the_ro_one_read_only()
    {
        var lower = _dir.CreateSub("lower");
        var extra = _dir.CreateSub("extra");
        File.WriteAllText(Path.Combine(lower, "hello.txt"), "hi");
        Directory.CreateDirectory(Path.Combine(lower, "data"));
        File.WriteAllText(Path.Combine(extra, "extra.txt"), "x");
        var rootfs = _dir.CreateSub("rootfs");

        Mounts.MountAll(
            [new MountSpec("bind", lower, "", ["rbind", "rw"]), new MountSpec("bind", extra, "data", ["bind", "ro"])],
            rootfs);

        Assert.True(Mounts.IsMountPoint(rootfs));
        Assert.True(Mounts.IsMountPoint(Path.Combine(rootfs, "data")));
        Assert.Equal("hi", File.ReadAllText(Path.Combine(rootfs, "hello.txt")));
        Assert.Equal("x", File.ReadAllText(Path.Combine(rootfs, "data", "extra.txt")));

        File.WriteAllText(Path.Combine(rootfs, "written.txt"), "rw");
        Assert.True(File.Exists(Path.Combine(lower, "written.txt")));
        var readOnly = Assert.ThrowsAny<IOException>(() => File.WriteAllText(Path.Combine(rootfs, "data", "nope.txt"), "ro"));
        Assert.Contains("Read-only", readOnly.Message, StringComparison.OrdinalIgnoreCase);

        Mounts.UnmountAll(Path.Combine(rootfs, "data"));
        Mounts.UnmountAll(rootfs);
        Assert.False(Mounts.IsMountPoint(rootfs));
        Assert.False(File.Exists(Path.Combine(rootfs, "hello.txt")));
    }

    [Fact]
    public void MountAll_must_pass_unknown_options_as_data()
    {
        var rootfs = _dir.CreateSub("rootfs");
        Mounts.MountAll([new MountSpec("tmpfs", "tmpfs", "", ["nosuid", "size=1m", "mode=750"])], rootfs);

        Assert.True(Mounts.IsMountPoint(rootfs));
        Assert.Equal(0x1E8, WasmKata.Linux.Interop.StatMode(rootfs) & 0xFFF);
        var line = File.ReadLines("/proc/self/mountinfo").Single(l => l.Split(' ')[4] == rootfs);
        Assert.Contains("nosuid", line, StringComparison.Ordinal);
        Assert.Contains("size=1024k", line, StringComparison.Ordinal);
    }

    [Fact]
    public void A_failure_half_way_must_unmount_what_was_mounted_and_name_the_failing_mount()
    {
        var lower = _dir.CreateSub("lower");
        Directory.CreateDirectory(Path.Combine(lower, "sub"));
        var rootfs = _dir.CreateSub("rootfs");
        var missing = _dir.Sub("does-not-exist");

        var e = Assert.Throws<MountException>(() => Mounts.MountAll(
            [
                new MountSpec("bind", lower, "", ["rbind", "rw"]),
                new MountSpec("tmpfs", "tmpfs", "sub", []),
                new MountSpec("bind", missing, "sub", ["bind", "ro"]),
            ],
            rootfs));

        Assert.Equal("bind", e.MountType);
        Assert.Equal(missing, e.MountSource);
        Assert.Equal(Path.Combine(rootfs, "sub"), e.MountTarget);
        Assert.Equal("ENOENT", e.ErrnoName);
        Assert.Contains(missing, e.Message, StringComparison.Ordinal);
        Assert.Contains("No such file or directory", e.Message, StringComparison.Ordinal);
        Assert.False(Mounts.IsMountPoint(Path.Combine(lower, "sub")));
        Assert.False(Mounts.IsMountPoint(rootfs));
        Assert.DoesNotContain(MountInfo.ReadMountPoints(), m => m.StartsWith(_dir.Path, StringComparison.Ordinal));
    }

    [Fact]
    public void A_target_escaping_the_rootfs_must_be_refused()
    {
        var rootfs = _dir.CreateSub("rootfs");
        var e = Assert.Throws<MountException>(() => Mounts.MountAll([new MountSpec("tmpfs", "tmpfs", "../outside", [])], rootfs));
        Assert.Contains("escapes", e.Message, StringComparison.Ordinal);
        Assert.False(Mounts.IsMountPoint(_dir.Sub("outside")));
    }

    [Fact]
    public void UnmountAll_must_remove_stacked_mounts_and_be_idempotent()
    {
        var rootfs = _dir.CreateSub("rootfs");
        Mounts.MountAll(
            [new MountSpec("tmpfs", "tmpfs", "", []), new MountSpec("tmpfs", "tmpfs", "", []), new MountSpec("tmpfs", "tmpfs", "", [])],
            rootfs);
        Assert.Equal(3, MountInfo.ReadMountPoints().Count(m => m == rootfs));

        Mounts.UnmountAll(rootfs);
        Assert.False(Mounts.IsMountPoint(rootfs));
        Mounts.UnmountAll(rootfs);
        Mounts.UnmountAll(_dir.Sub("never-created"));
    }

    [Fact]
    public void UnmountAll_must_detach_a_busy_mount()
    {
        var rootfs = _dir.CreateSub("rootfs");
        Mounts.MountAll([new MountSpec("tmpfs", "tmpfs", "", [])], rootfs);
        using var busy = File.Open(Path.Combine(rootfs, "held"), FileMode.Create);
        Assert.Equal(Interop.Errno.EBUSY, UmountErrno(rootfs));

        Mounts.UnmountAll(rootfs);
        Assert.False(Mounts.IsMountPoint(rootfs));
    }

    [Fact]
    public void IsMountPoint_must_match_exactly_and_handle_spaces_and_symlinks()
    {
        var spaced = _dir.CreateSub("with space");
        var child = Directory.CreateDirectory(Path.Combine(spaced, "child")).FullName;
        Assert.False(Mounts.IsMountPoint(spaced));

        Mounts.MountAll([new MountSpec("tmpfs", "tmpfs", "", [])], spaced);
        Directory.CreateDirectory(Path.Combine(spaced, "inner"));
        var link = _dir.Sub("link");
        File.CreateSymbolicLink(link, spaced);

        Assert.True(Mounts.IsMountPoint(spaced));
        Assert.True(Mounts.IsMountPoint(spaced + "/"));
        Assert.True(Mounts.IsMountPoint(link));
        Assert.False(Mounts.IsMountPoint(Path.Combine(spaced, "inner")));
        Assert.False(Mounts.IsMountPoint(_dir.Path));
        Assert.False(Mounts.IsMountPoint(child));
        Assert.False(Mounts.IsMountPoint(_dir.Sub("missing")));
    }

    [Fact]
    public void BindMount_must_honour_read_only()
    {
        var source = _dir.CreateSub("source");
        var target = _dir.CreateSub("target");
        Mounts.BindMount(source, target, readOnly: true);

        Assert.True(Mounts.IsMountPoint(target));
        Assert.ThrowsAny<IOException>(() => File.WriteAllText(Path.Combine(target, "x"), "x"));
        Mounts.UnmountAll(target);

        Mounts.BindMount(source, target, readOnly: false);
        File.WriteAllText(Path.Combine(target, "x"), "x");
        Assert.True(File.Exists(Path.Combine(source, "x")));
    }

    [Fact]
    public void Loop_mounts_must_be_refused_with_a_clear_message()
    {
        var rootfs = _dir.CreateSub("rootfs");
        var e = Assert.Throws<MountException>(() => Mounts.MountAll([new MountSpec("ext4", "/img", "", ["loop"])], rootfs));
        Assert.Contains("loop", e.Message, StringComparison.Ordinal);
    }

    private static int UmountErrno(string target) =>
        Interop.Umount2(target, 0) == 0 ? 0 : Interop.Errno.Last;
}
