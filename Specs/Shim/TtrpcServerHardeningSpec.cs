using System.Net.Sockets;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Xunit;

namespace WasmKata.Specs.Shim;

/// <summary>What the fuzz run found in the ttrpc server, pinned down one case at a time (alone: it counts allocations).</summary>
[Collection(QuietCollection.Name)]
public sealed class TtrpcServerHardeningSpec : IAsyncLifetime
{
    private TestService _service = null!;
    private int _calls;

    public Task InitializeAsync()
    {
        _service = new TestService();
        _service.Server.Register("wasmkata.test.Count", "Call", (_, _) =>
        {
            Interlocked.Increment(ref _calls);
            return Task.FromResult<IMessage?>(null);
        });
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _service.DisposeAsync();

    [Fact]
    public async Task A_header_whose_body_never_comes_must_not_run_an_earlier_request_again()
    {
        var body = RawTtrpc.RequestBody("wasmkata.test.Count", "Call", new StringValue { Value = new string('k', 200) });
        for (var i = 0; i < 50; i++)
        {
            using var honest = await RawTtrpc.ConnectAsync(_service.SocketPath);
            await RawTtrpc.SendAsync(honest, RawTtrpc.Frame(1, 1, body));
            await RawTtrpc.ReadResponseAsync(honest, 1);

            // Same length announced, then gone: the pooled buffer the server reads into still holds the honest body.
            using var vanishing = await RawTtrpc.ConnectAsync(_service.SocketPath);
            await RawTtrpc.SendAsync(vanishing, RawTtrpc.Header((uint)body.Length, 1, 1));
            vanishing.Shutdown(SocketShutdown.Send);
            Assert.True(await RawTtrpc.IsClosedByPeerAsync(vanishing));
        }

        // Let any wrongly dispatched call land before counting.
        await using var client = await _service.ConnectAsync();
        await client.CallAsync<StringValue, StringValue>(TestService.Name, "Echo", new StringValue { Value = "flush" });
        await Task.Delay(200);
        Assert.Equal(50, Volatile.Read(ref _calls));
    }

    [Fact]
    public async Task A_client_announcing_4_MiB_and_stalling_must_not_cost_4_MiB()
    {
        var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        var stalled = new List<Socket>();
        try
        {
            for (var i = 0; i < 32; i++)
            {
                var socket = await RawTtrpc.ConnectAsync(_service.SocketPath);
                await RawTtrpc.SendAsync(socket, [.. RawTtrpc.Header((4u << 20) - 1, 1, 1), .. new byte[100]]);
                stalled.Add(socket);
            }

            await using var client = await _service.ConnectAsync();
            var reply = await client.CallAsync<StringValue, StringValue>(TestService.Name, "Echo", new StringValue { Value = "still here" });
            Assert.Equal("still here", reply.Value);
            await Task.Delay(200);

            // 32 stalled clients at 4 MiB each would be 128 MiB; growing with what arrived it is a few MiB.
            var allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
            Assert.True(allocated < 32L << 20, $"{allocated >> 20} MiB allocated for 32 stalled clients");
        }
        finally
        {
            foreach (var socket in stalled)
                socket.Dispose();
        }
    }
}
