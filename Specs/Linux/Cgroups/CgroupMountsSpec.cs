using WasmKata.Linux.Cgroups;
using Xunit;

namespace WasmKata.Specs.Linux.Cgroups;

public sealed class CgroupMountsSpec
{
    private const string Hybrid = """
        23 1 0:21 / /sys rw,nosuid - sysfs sysfs rw
        31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
        32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct
        35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
        39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
        40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,release_agent=/x,name=systemd
        41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate

        """;

    private const string Unified = """
        25 21 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
        """;

    [Fact]
    public void A_hybrid_host_must_be_v1_with_its_controllers_and_unified_mount()
    {
        var mounts = CgroupMounts.Parse(Hybrid);
        Assert.Equal(CgroupVersion.V1, mounts.Mode);
        Assert.Equal(5, mounts.Hierarchies.Count);
        Assert.Equal("/sys/fs/cgroup/cpu,cpuacct", mounts.V1("cpuacct")!.MountPoint);
        Assert.Equal(["cpu", "cpuacct"], mounts.V1("cpu")!.Controllers);
        Assert.Equal(["name=systemd"], mounts.V1("name=systemd")!.Controllers);
        Assert.Null(mounts.V1("blkio"));
        Assert.Equal("/sys/fs/cgroup/unified", mounts.Unified!.MountPoint);
    }

    [Fact]
    public void A_unified_host_must_be_v2()
    {
        var mounts = CgroupMounts.Parse(Unified);
        Assert.Equal(CgroupVersion.V2, mounts.Mode);
        Assert.Equal("/sys/fs/cgroup", mounts.Unified!.MountPoint);
    }

    [Fact]
    public void No_cgroup_mounts_must_have_no_mode()
    {
        Assert.Null(CgroupMounts.Parse("23 1 0:21 / /sys rw - sysfs sysfs rw\n").Mode);
    }

    [Fact]
    public void Membership_must_give_each_hierarchy_its_cgroup()
    {
        var mounts = CgroupMounts.Parse(Hybrid);
        var membership = CgroupMembership.Parse("9:name=systemd:/user.slice\n4:memory:/a/b\n2:cpu,cpuacct:/\n0::/init.scope\n");
        Assert.Equal("/a/b", membership.In(mounts.V1("memory")!));
        Assert.Equal("/", membership.In(mounts.V1("cpuacct")!));
        Assert.Equal("/user.slice", membership.In(mounts.V1("name=systemd")!));
        Assert.Equal("/init.scope", membership.In(mounts.Unified!));
        Assert.Null(membership.In(mounts.V1("pids")!));
    }

    [Fact]
    public void Directories_must_account_for_the_mount_root()
    {
        var root = new CgroupHierarchy(CgroupVersion.V1, "/sys/fs/cgroup/memory", "/", ["memory"]);
        Assert.Equal("/sys/fs/cgroup/memory/k8s.io/abc", root.Directory("/k8s.io/abc"));
        Assert.Equal("/sys/fs/cgroup/memory", root.Directory("/"));
        Assert.Equal("/k8s.io/abc", root.CgroupPath("/sys/fs/cgroup/memory/k8s.io/abc"));

        var nested = new CgroupHierarchy(CgroupVersion.V2, "/sys/fs/cgroup", "/machine/ct", []);
        Assert.Equal("/sys/fs/cgroup/x", nested.Directory("/machine/ct/x"));
        Assert.Equal("/machine/ct/x", nested.CgroupPath("/sys/fs/cgroup/x"));
        Assert.Throws<CgroupException>(() => nested.Directory("/other"));
    }

    [Fact]
    public void This_hosts_mount_table_must_parse()
    {
        var mounts = CgroupMounts.Read();
        Assert.NotNull(mounts.Mode);
        Assert.All(mounts.Hierarchies, h => Assert.True(Directory.Exists(h.MountPoint)));
    }
}
