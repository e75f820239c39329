using WasmKata.Core.Protos.TaskApi;
using WasmKata.Shim.Service;
using WasmKata.Shim.Ttrpc;
using Xunit;

namespace WasmKata.Specs.Shim;

/// <summary>ResizePty over the real ttrpc server: sizes a window cannot have and unknown tasks get clear errors.</summary>
public sealed class ResizePtyWireSpec : IAsyncLifetime
{
    private static readonly TimeSpan Answer = TimeSpan.FromSeconds(10);
    private static readonly string Service = TaskService.ServiceNames[0];

    private InProcessTaskApi _api = null!;

    public Task InitializeAsync()
    {
        _api = new InProcessTaskApi("resize", () => { });
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _api.DisposeAsync();

    [Theory]
    [InlineData(70000u, 24u)]
    [InlineData(80u, 65536u)]
    public async Task A_size_beyond_a_winsize_must_be_refused_as_invalid(uint width, uint height)
    {
        await using var client = await TtrpcClient.ConnectAsync(_api.SocketPath).WaitAsync(Answer);

        var refused = await Assert.ThrowsAsync<TtrpcException>(() =>
            client.CallAsync<ResizePtyRequest, Google.Protobuf.WellKnownTypes.Empty>(Service, "ResizePty",
                new ResizePtyRequest { Id = "any", Width = width, Height = height }).WaitAsync(Answer));

        Assert.Equal(StatusCode.InvalidArgument, refused.Code);
        Assert.Contains("65535", refused.Message);
    }

    [Fact]
    public async Task ResizePty_of_an_unknown_task_must_be_not_found_and_leave_the_server_serving()
    {
        await using var client = await TtrpcClient.ConnectAsync(_api.SocketPath).WaitAsync(Answer);

        var missing = await Assert.ThrowsAsync<TtrpcException>(() =>
            client.CallAsync<ResizePtyRequest, Google.Protobuf.WellKnownTypes.Empty>(Service, "ResizePty",
                new ResizePtyRequest { Id = "nobody", Width = 80, Height = 24 }).WaitAsync(Answer));
        Assert.Equal(StatusCode.NotFound, missing.Code);

        var again = await Assert.ThrowsAsync<TtrpcException>(() =>
            client.CallAsync<StateRequest, StateResponse>(Service, "State", new StateRequest { Id = "nobody" }).WaitAsync(Answer));
        Assert.Equal(StatusCode.NotFound, again.Code);
    }
}
