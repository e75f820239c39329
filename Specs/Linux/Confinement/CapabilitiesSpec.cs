using WasmKata.Linux.Confinement;
using Xunit;

namespace WasmKata.Specs.Linux.Confinement;

[Trait("Requires", "root")]
public sealed class CapabilitiesSpec
{
    private const int EPERM = 1;

    [Fact]
    public void Dropping_all_must_empty_every_set_of_the_thread_and_refuse_a_chown()
    {
        using var temp = new TempDirectory();
        var file = temp.Sub("f");
        File.WriteAllText(file, "x");
        var (status, chown, bounding) = OwnThread.Run(() =>
        {
            Capabilities.DropAllFromThisThread();
            var r = Libc.Chown(file, 12345, 12345);
            var errno = r == 0 ? 0 : System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
            return (ConfinementStatus.Read(OwnThread.StatusPath), errno, Capabilities.InBoundingSet(0));
        });
        Assert.Equal(0UL, status.CapEff);
        Assert.Equal(0UL, status.CapPrm);
        Assert.Equal(0UL, status.CapBnd);
        Assert.Equal(0UL, status.CapAmb);
        Assert.False(bounding);
        Assert.Equal(EPERM, chown);
        // Still root on the spec's own threads.
        Assert.NotEqual(0UL, ConfinementStatus.Read("/proc/self/status").CapEff);
    }

    [Fact]
    public void The_last_capability_must_be_what_the_kernel_says()
    {
        Assert.True(Capabilities.LastCapability() >= 40, "6.x kernels know CAP_CHECKPOINT_RESTORE (40)");
    }
}
