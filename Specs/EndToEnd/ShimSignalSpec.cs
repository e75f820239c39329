using System.Diagnostics;
using WasmKata.Core.Protos.TaskApi;
using Xunit;
using Xunit.Abstractions;

namespace WasmKata.Specs.EndToEnd;

/// <summary>
/// SIGTERM ends a shim daemon within 2 s in every state it can be in: serving with nothing, serving a running guest,
/// draining after Shutdown, and with containerd gone (no events socket, no connection). And a daemon that containerd
/// left (no connection, its bundle removed) ends by itself.
/// </summary>
[Collection(EndToEndCollection.Name)]
[Trait("Category", "Shim")]
[Trait("Requires", "root")]
[Trait("Runtime", "wasmkata")]
public sealed class ShimSignalSpec(ITestOutputHelper output)
{
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(2);

    [Fact]
    public async Task Sigterm_must_end_an_idle_serving_daemon_within_2_seconds()
    {
        await using var shim = await ShimUnderTest.StartAsync(ContainerdFixture.NewId("sig-idle"));
        await AssertEndsOnSigtermAsync(shim, "serving, idle");
    }

    [Fact]
    public async Task Sigterm_must_end_a_daemon_with_a_running_guest_within_2_seconds()
    {
        await using var shim = await ShimUnderTest.StartAsync(ContainerdFixture.NewId("sig-run"));
        await shim.StartSleeperAsync(shim.Id);
        await AssertEndsOnSigtermAsync(shim, "serving, a guest running");
    }

    [Fact]
    public async Task Sigterm_must_end_a_draining_daemon_within_2_seconds()
    {
        await using var shim = await ShimUnderTest.StartAsync(ContainerdFixture.NewId("sig-drain"));
        await shim.StartSleeperAsync(shim.Id);
        await shim.CallAsync<KillRequest, Google.Protobuf.WellKnownTypes.Empty>("Kill", new KillRequest { Id = shim.Id, Signal = 9 });
        await shim.CallAsync<WaitRequest, WaitResponse>("Wait", new WaitRequest { Id = shim.Id });
        await shim.CallAsync<DeleteRequest, DeleteResponse>("Delete", new DeleteRequest { Id = shim.Id });
        var shutdown = shim.CallAsync<ShutdownRequest, Google.Protobuf.WellKnownTypes.Empty>("Shutdown", new ShutdownRequest { Id = shim.Id });
        await shutdown;
        // Answered: the daemon released its socket and drains now.
        Assert.False(File.Exists(shim.SocketPath), "the socket path must be gone once Shutdown is answered");
        await AssertEndsOnSigtermAsync(shim, "draining");
    }

    [Fact]
    public async Task Sigterm_must_end_a_daemon_whose_containerd_is_gone_within_2_seconds()
    {
        await using var shim = await ShimUnderTest.StartAsync(ContainerdFixture.NewId("sig-gone"));
        await shim.StartSleeperAsync(shim.Id);
        await shim.StopEventsAsync();
        await shim.CloseClientsAsync();
        await Task.Delay(300);
        Assert.True(shim.IsRunning, "with its bundle still there the daemon waits for containerd to come back");
        await AssertEndsOnSigtermAsync(shim, "containerd gone");
    }

    [Fact]
    public async Task A_daemon_must_end_by_itself_when_containerd_closed_its_connections_and_removed_the_bundle()
    {
        await using var shim = await ShimUnderTest.StartAsync(ContainerdFixture.NewId("sig-orphan"));
        var bundle = await shim.StartSleeperAsync(shim.Id);
        await shim.StopEventsAsync();
        await shim.CloseClientsAsync();
        var clock = Stopwatch.StartNew();
        Directory.Delete(bundle, recursive: true);
        while (shim.IsRunning && clock.Elapsed < TimeSpan.FromSeconds(10))
            await Task.Delay(20);
        output.WriteLine($"ended {clock.ElapsedMilliseconds} ms after its bundle was removed");
        Assert.False(shim.IsRunning, "the daemon outlived containerd's connections and its bundle by 10 s");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(3), $"took {clock.ElapsedMilliseconds} ms");
    }

    [Fact]
    public async Task A_daemon_must_end_by_itself_when_its_bundle_went_before_the_last_connection_closed()
    {
        // The other order of the two: the bundle goes while containerd's connection is still open (the daemon must
        // not end yet), then the connection closes.
        await using var shim = await ShimUnderTest.StartAsync(ContainerdFixture.NewId("sig-late"));
        var bundle = await shim.StartSleeperAsync(shim.Id);
        await shim.StopEventsAsync();
        Directory.Delete(bundle, recursive: true);
        await Task.Delay(300);
        Assert.True(shim.IsRunning, "the daemon ended while containerd was still connected");
        var clock = Stopwatch.StartNew();
        await shim.CloseClientsAsync();
        while (shim.IsRunning && clock.Elapsed < TimeSpan.FromSeconds(10))
            await Task.Delay(20);
        output.WriteLine($"ended {clock.ElapsedMilliseconds} ms after its last connection closed");
        Assert.False(shim.IsRunning, "the daemon outlived containerd's connections and its bundle by 10 s");
        Assert.True(clock.Elapsed < Budget, $"took {clock.ElapsedMilliseconds} ms");
    }

    private async Task AssertEndsOnSigtermAsync(ShimUnderTest shim, string state)
    {
        var clock = Stopwatch.StartNew();
        if (!WasmKata.Linux.Processes.Signals.TrySend(shim.Pid, 15))
            Assert.False(shim.IsRunning, "could not signal the daemon"); // it had ended already
        while (shim.IsRunning && clock.Elapsed < TimeSpan.FromSeconds(10))
            await Task.Delay(10);
        output.WriteLine($"{state}: ended {clock.ElapsedMilliseconds} ms after SIGTERM");
        Assert.False(shim.IsRunning, $"{state}: still running 10 s after SIGTERM");
        Assert.True(clock.Elapsed < Budget, $"{state}: took {clock.ElapsedMilliseconds} ms");
    }
}
