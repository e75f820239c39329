using WasmKata.Core.Protos.TaskApi;
using Xunit;
using Xunit.Abstractions;

namespace WasmKata.Specs.EndToEnd;

/// <summary>
/// containerd runs <c>start</c> for a reused id the moment the previous daemon of that id answered Shutdown (Docker's
/// restart does exactly this). That start must hand out a daemon that serves, never the one on its way out: the old
/// daemon used to keep listening for a while after its answer and to delete the socket path last, so the new start
/// took it for live, or the new daemon's socket vanished under it.
/// </summary>
[Collection(EndToEndCollection.Name)]
[Trait("Category", "Shim")]
[Trait("Requires", "root")]
[Trait("Runtime", "wasmkata")]
public sealed class ShimReuseSpec(ITestOutputHelper output)
{
    private const int Rounds = 10;

    [Fact]
    public async Task A_start_right_after_Shutdown_must_get_a_new_daemon_that_goes_on_serving()
    {
        await using var shim = await ShimUnderTest.StartAsync("reuse-" + Guid.NewGuid().ToString("N")[..6]);
        for (var round = 1; round <= Rounds; round++)
        {
            var old = shim.Pid;
            await shim.CallAsync<ShutdownRequest, Google.Protobuf.WellKnownTypes.Empty>("Shutdown", new ShutdownRequest { Id = shim.Id });
            await shim.RestartAsync();
            Assert.True(shim.Pid != old, $"round {round}: start handed out daemon {old}, which had agreed to exit");

            // Once the old daemon is gone, the new one still serves at the same path (nothing deleted it from under it).
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
            while (ContainerdFixture.IsRunning(old) && DateTime.UtcNow < deadline)
                await Task.Delay(20);
            Assert.False(ContainerdFixture.IsRunning(old), $"round {round}: daemon {old} did not exit after its Shutdown");
            var client = await shim.ConnectAsync();
            var connected = await shim.CallAsync<ConnectRequest, ConnectResponse>("Connect", new ConnectRequest { Id = shim.Id }, client);
            Assert.Equal((uint)shim.Pid, connected.ShimPid);
            output.WriteLine($"round {round}: daemon {old} exited, {shim.Pid} serves");
        }
    }
}
