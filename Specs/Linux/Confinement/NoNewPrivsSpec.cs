using WasmKata.Linux.Confinement;
using Xunit;

namespace WasmKata.Specs.Linux.Confinement;

[Trait("Requires", "kernel")]
public sealed class NoNewPrivsSpec
{
    [Fact]
    public void Setting_it_must_show_in_the_thread_status_only()
    {
        var (before, after, status) = OwnThread.Run(() =>
        {
            var b = NoNewPrivs.IsSetOnThisThread();
            NoNewPrivs.SetOnThisThread();
            return (b, NoNewPrivs.IsSetOnThisThread(), ConfinementStatus.Read(OwnThread.StatusPath));
        });
        Assert.False(before);
        Assert.True(after);
        Assert.True(status.NoNewPrivs);
        Assert.False(ConfinementStatus.Read("/proc/self/status").NoNewPrivs);
    }
}
