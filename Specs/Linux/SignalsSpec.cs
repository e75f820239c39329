using WasmKata.Linux.Processes;
using Xunit;

namespace WasmKata.Specs.Linux;

public sealed class SignalsSpec
{
    [Fact]
    public async Task TrySend_must_deliver_the_signal_and_report_a_gone_process()
    {
        using var sleeper = System.Diagnostics.Process.Start("/bin/sleep", "60");
        Assert.True(Signals.IsAlive(sleeper.Id));

        Assert.True(Signals.TrySend(sleeper.Id, 15));
        await sleeper.WaitForExitAsync().Within();

        Assert.Equal(128 + 15, sleeper.ExitCode);
        Assert.False(Signals.IsAlive(sleeper.Id));
        Assert.False(Signals.TrySend(sleeper.Id, 15));
    }

    [Fact]
    public void Pids_that_address_groups_must_be_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Signals.TrySend(0, 15));
        Assert.Throws<ArgumentOutOfRangeException>(() => Signals.TrySend(-1, 15));
        Assert.Throws<ArgumentOutOfRangeException>(() => Signals.IsAlive(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => Signals.TrySend(Environment.ProcessId, 65));
    }

    [Fact]
    public void Our_own_process_must_be_alive()
    {
        Assert.True(Signals.IsAlive(Environment.ProcessId));
        Assert.True(Signals.TrySend(Environment.ProcessId, 0));
    }
}
