using WasmKata.Linux.Confinement;
using WasmKata.Linux.Mounts;
using Xunit;

namespace WasmKata.Specs.Linux.Confinement;

[Trait("Requires", "root")]
public sealed class MountNamespaceSpec
{
    [Fact]
    public void A_private_namespace_must_keep_its_mounts_to_itself()
    {
        using var temp = new TempDirectory();
        var target = temp.CreateSub("mnt");
        var ours = MountNamespace.Of(Environment.ProcessId);
        var (theirs, mountedThere) = OwnThread.Run(() =>
        {
            MountNamespace.EnterPrivateOnThisThread();
            var ns = new FileInfo("/proc/thread-self/ns/mnt").LinkTarget!;
            if (Libc.Mount("tmpfs", target, "tmpfs", 0, null) != 0)
                throw new IOException("mount tmpfs failed in the private namespace");
            var seen = File.ReadAllText("/proc/thread-self/mountinfo").Contains(" " + target + " ", StringComparison.Ordinal);
            Libc.Umount2(target, 0);
            return (ns, seen);
        });
        Assert.NotEqual(ours, theirs);
        Assert.StartsWith("mnt:[", theirs, StringComparison.Ordinal);
        Assert.True(mountedThere);
        // The spec's namespace never saw the tmpfs.
        Assert.DoesNotContain(target, MountInfo.ReadMountPoints());
    }
}
