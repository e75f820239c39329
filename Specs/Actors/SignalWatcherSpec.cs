using Akka.TestKit.Xunit2;
using WasmKata.Actors.Signals;
using WasmKata.Linux.Processes;
using Xunit;

namespace WasmKata.Specs.Actors;

public class SignalWatcherSpec : TestKit
{
    [Fact]
    public async Task Sigchld_must_become_a_message_to_the_parent()
    {
        ChildActorOf(SignalWatcherProtocol.Props());
        await AwaitAssertAsync(async () =>
        {
            Assert.True(Signals.TrySend(Environment.ProcessId, 17));
            await ExpectMsgAsync<SignalWatcherProtocol.ChildSignalled>(TimeSpan.FromMilliseconds(500));
        }, TimeSpan.FromSeconds(10));
    }
}
