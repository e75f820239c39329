using Google.Protobuf.WellKnownTypes;
using WasmKata.Shim.Ttrpc;
using Xunit;

namespace WasmKata.Specs.Shim;

/// <summary>The ttrpc client against a real server.</summary>
public sealed class TtrpcClientSpec : IAsyncLifetime
{
    private const string Probe = TestService.Name;
    private TestService _service = null!;

    public Task InitializeAsync()
    {
        _service = new TestService();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _service.DisposeAsync();

    [Fact]
    public async Task Stream_ids_must_be_odd_from_one_in_steps_of_two()
    {
        await using var client = await _service.ConnectAsync();

        var ids = new List<uint>();
        for (var i = 0; i < 3; i++)
            ids.Add((await client.CallAsync<Empty, UInt32Value>(Probe, "StreamId", new Empty())).Value);

        Assert.Equal([1u, 3u, 5u], ids);
    }

    [Fact]
    public async Task Non_ok_status_must_throw_TtrpcException_with_code_and_message()
    {
        await using var client = await _service.ConnectAsync();

        var failure = await Assert.ThrowsAsync<TtrpcException>(() => client.CallAsync<Empty, Empty>("no.such.Service", "X", new Empty()));

        Assert.Equal((StatusCode.Unimplemented, "service no.such.Service"), (failure.Code, failure.Message));
    }

    [Fact]
    public async Task Timeout_must_throw_DeadlineExceeded()
    {
        await using var client = await _service.ConnectAsync();

        var failure = await Assert.ThrowsAsync<TtrpcException>(
            () => client.CallAsync<Empty, Empty>(Probe, "Hang", new Empty(), TimeSpan.FromMilliseconds(100)).WaitAsync(RawTtrpc.Patience));

        Assert.Equal(StatusCode.DeadlineExceeded, failure.Code);
    }

    [Fact]
    public async Task Caller_cancellation_must_throw_OperationCanceledException()
    {
        await using var client = await _service.ConnectAsync();
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(
            () => client.CallAsync<Empty, Empty>(Probe, "Hang", new Empty(), cancellationToken: cancel.Token).WaitAsync(RawTtrpc.Patience));
        Assert.False(client.IsClosed);
    }

    [Fact]
    public async Task Closed_connection_must_fail_pending_and_later_calls_with_IOException()
    {
        await using var client = await _service.ConnectAsync();
        var pending = client.CallAsync<Empty, Empty>(Probe, "Hang", new Empty());
        await client.CallAsync<StringValue, StringValue>(Probe, "Echo", new StringValue { Value = "hang is in flight" });
        Assert.False(pending.IsCompleted);

        await _service.Server.DisposeAsync();

        await Assert.ThrowsAsync<IOException>(() => pending.WaitAsync(RawTtrpc.Patience));
        Assert.True(client.IsClosed);
        await Assert.ThrowsAsync<IOException>(() => client.CallAsync<Empty, Empty>(Probe, "Nothing", new Empty()));
    }

    [Fact]
    public async Task Concurrent_calls_must_each_get_their_own_reply()
    {
        await using var client = await _service.ConnectAsync();

        var replies = await Task.WhenAll(Enumerable.Range(0, 50).Select(i =>
            client.CallAsync<StringValue, StringValue>(Probe, "Echo", new StringValue { Value = i.ToString(System.Globalization.CultureInfo.InvariantCulture) })));

        Assert.Equal(Enumerable.Range(0, 50).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)), replies.Select(r => r.Value));
    }
}
