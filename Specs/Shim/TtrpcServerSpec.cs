using System.Net.Sockets;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using WasmKata.Shim.Ttrpc;
using Xunit;

namespace WasmKata.Specs.Shim;

/// <summary>A real <see cref="TtrpcServer"/> on a unix socket, driven by raw bytes and by the real client.</summary>
public sealed class TtrpcServerSpec : IAsyncLifetime
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
    public async Task Ok_reply_must_carry_the_payload_and_no_status()
    {
        using var socket = await RawTtrpc.ConnectAsync(_service.SocketPath);
        await RawTtrpc.SendRequestAsync(socket, 1, Probe, "Echo", new StringValue { Value = "hi" });

        var frame = await RawTtrpc.ReadFrameAsync(socket);

        Assert.Equal((1u, (byte)2, (byte)0), (frame.StreamId, frame.Type, frame.Flags));
        // Field 2 (payload) only: 12 <len> then StringValue{value="hi"}.
        Assert.Equal(Convert.FromHexString("1204" + "0A026869"), frame.Body);
    }

    [Fact]
    public async Task Empty_reply_must_be_a_zero_length_response()
    {
        using var socket = await RawTtrpc.ConnectAsync(_service.SocketPath);
        await RawTtrpc.SendRequestAsync(socket, 17, Probe, "Nothing");

        var frame = await RawTtrpc.ReadFrameAsync(socket);

        Assert.Equal(Convert.FromHexString("00000000000000110200"), frame.Header);
    }

    [Fact]
    public async Task Unknown_service_must_answer_Unimplemented()
    {
        using var socket = await RawTtrpc.ConnectAsync(_service.SocketPath);
        await RawTtrpc.SendRequestAsync(socket, 5, "no.such.Service", "Create");

        var frame = await RawTtrpc.ReadFrameAsync(socket);

        // Byte for byte what containerd 1.6.20's ttrpc server answers.
        byte[] expected = [.. Convert.FromHexString("0A1B080C1217"), .. "service no.such.Service"u8.ToArray()];
        Assert.Equal(expected, frame.Body);
    }

    [Fact]
    public async Task Unknown_method_must_answer_Unimplemented()
    {
        using var socket = await RawTtrpc.ConnectAsync(_service.SocketPath);
        await RawTtrpc.SendRequestAsync(socket, 1, Probe, "Frobnicate");

        var response = await RawTtrpc.ReadResponseAsync(socket, 1);

        Assert.Equal((12, "method Frobnicate"), (response.Status.Code, response.Status.Message));
        Assert.True(response.Payload.IsEmpty);
    }

    [Fact]
    public async Task Undecodable_request_body_must_answer_InvalidArgument()
    {
        using var socket = await RawTtrpc.ConnectAsync(_service.SocketPath);
        await RawTtrpc.SendAsync(socket, RawTtrpc.Frame(7, 1, [0x0A, 0x7F, 0x41]));

        var response = await RawTtrpc.ReadResponseAsync(socket, 7);

        Assert.Equal(3, response.Status.Code);
        Assert.StartsWith("unmarshal request error: ", response.Status.Message, StringComparison.Ordinal);
        await Echo_must_still_work(socket, 9);
    }

    [Fact]
    public async Task Undecodable_payload_must_answer_Internal()
    {
        using var socket = await RawTtrpc.ConnectAsync(_service.SocketPath);
        await RawTtrpc.SendAsync(socket, RawTtrpc.Frame(3, 1, RawTtrpc.RequestBody(Probe, "Echo", [0x0A, 0x09, 0x61])));

        var response = await RawTtrpc.ReadResponseAsync(socket, 3);

        Assert.Equal(13, response.Status.Code);
        Assert.StartsWith("ttrpc: error unmarshalling payload: ", response.Status.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Even_stream_id_must_answer_InvalidArgument_and_keep_the_connection()
    {
        using var socket = await RawTtrpc.ConnectAsync(_service.SocketPath);
        await RawTtrpc.SendRequestAsync(socket, 2, Probe, "Echo", new StringValue { Value = "x" });

        var response = await RawTtrpc.ReadResponseAsync(socket, 2);

        Assert.Equal((3, "StreamID must be odd for client initiated streams"), (response.Status.Code, response.Status.Message));
        await Echo_must_still_work(socket, 3);
    }

    [Fact]
    public async Task Oversize_frame_must_answer_ResourceExhausted_and_keep_the_connection()
    {
        using var socket = await RawTtrpc.ConnectAsync(_service.SocketPath);
        const uint length = (4u << 20) + 1;
        await RawTtrpc.SendAsync(socket, RawTtrpc.Header(length, 11, 1));

        var response = await RawTtrpc.ReadResponseAsync(socket, 11);
        Assert.Equal((8, "message length 4194305 exceed maximum message size of 4194304"), (response.Status.Code, response.Status.Message));

        // The announced bytes are drained, after which the stream is in sync again.
        await RawTtrpc.SendAsync(socket, new byte[length]);
        await Echo_must_still_work(socket, 13);
    }

    [Fact]
    public async Task Four_GiB_announcement_must_be_refused_without_allocating_or_hurting_others()
    {
        await using var bystander = await _service.ConnectAsync();
        using var socket = await RawTtrpc.ConnectAsync(_service.SocketPath);
        var before = GC.GetTotalAllocatedBytes(precise: false);

        await RawTtrpc.SendAsync(socket, RawTtrpc.Header(0xFFFF_FFFF, 1, 1));
        var response = await RawTtrpc.ReadResponseAsync(socket, 1);

        Assert.Equal((8, "message length 4294967295 exceed maximum message size of 4194304"), (response.Status.Code, response.Status.Message));
        Assert.True(GC.GetTotalAllocatedBytes(precise: false) - before < 64L << 20, "the announced body must not be allocated");
        socket.Dispose();

        await AssertEcho(bystander, "still here");
        await using var newcomer = await _service.ConnectAsync();
        await AssertEcho(newcomer, "new client");
    }

    [Fact]
    public async Task Truncated_frame_must_close_only_that_connection()
    {
        await using var bystander = await _service.ConnectAsync();
        using var socket = await RawTtrpc.ConnectAsync(_service.SocketPath);
        var body = RawTtrpc.RequestBody(Probe, "Echo", new StringValue { Value = "cut" });

        await RawTtrpc.SendAsync(socket, [.. RawTtrpc.Header((uint)body.Length, 1, 1), .. body.AsSpan(0, body.Length / 2)]);
        socket.Shutdown(SocketShutdown.Send);

        Assert.True(await RawTtrpc.IsClosedByPeerAsync(socket), "the server must close a connection that ends mid-frame");
        await AssertEcho(bystander, "unaffected");
    }

    [Fact]
    public async Task Data_and_unknown_frames_must_be_ignored()
    {
        using var socket = await RawTtrpc.ConnectAsync(_service.SocketPath);
        await RawTtrpc.SendAsync(socket, RawTtrpc.Frame(1, 3, [1, 2, 3]));
        await RawTtrpc.SendAsync(socket, RawTtrpc.Frame(3, 0x42, [4, 5]));

        // The first reply on the wire belongs to the request that follows them.
        await Echo_must_still_work(socket, 5);
    }

    [Fact]
    public async Task Slow_call_issued_first_must_not_hold_back_a_fast_one()
    {
        using var socket = await RawTtrpc.ConnectAsync(_service.SocketPath);
        await RawTtrpc.SendRequestAsync(socket, 1, Probe, "Gated", new StringValue { Value = "slow" });
        await RawTtrpc.SendRequestAsync(socket, 3, Probe, "Echo", new StringValue { Value = "fast" });

        var first = await RawTtrpc.ReadResponseAsync(socket, 3);
        Assert.Equal("fast", StringValue.Parser.ParseFrom(first.Payload).Value);

        _service.Gate.SetResult();
        var second = await RawTtrpc.ReadResponseAsync(socket, 1);
        Assert.Equal("slow", StringValue.Parser.ParseFrom(second.Payload).Value);
    }

    [Fact]
    public async Task Two_hundred_concurrent_calls_on_one_connection_must_all_be_answered()
    {
        await using var client = await _service.ConnectAsync();
        var calls = Enumerable.Range(0, 200)
            .Select(i => client.CallAsync<StringValue, StringValue>(Probe, "Gated", new StringValue { Value = $"call {i}" }))
            .ToArray();

        // Reads pause at the per-connection cap instead of piling up unbounded work.
        await Eventually(() => _service.Entered == TtrpcConnection.MaxOutstanding);
        await Task.Delay(100);
        Assert.Equal(TtrpcConnection.MaxOutstanding, _service.Entered);

        _service.Gate.SetResult();
        var replies = await Task.WhenAll(calls).WaitAsync(RawTtrpc.Patience);

        Assert.Equal(Enumerable.Range(0, 200).Select(i => $"call {i}"), replies.Select(r => r.Value));
        Assert.Equal(200, _service.Entered);
    }

    [Fact]
    public async Task Handler_exception_must_answer_Unknown_and_keep_serving()
    {
        await using var client = await _service.ConnectAsync();

        var failure = await Assert.ThrowsAsync<TtrpcException>(() => client.CallAsync<Empty, Empty>(Probe, "Throw", new Empty()));

        Assert.Equal((StatusCode.Unknown, "boom"), (failure.Code, failure.Message));
        await AssertEcho(client, "after boom");
    }

    [Fact]
    public async Task TtrpcException_must_answer_its_own_status()
    {
        await using var client = await _service.ConnectAsync();

        var failure = await Assert.ThrowsAsync<TtrpcException>(() => client.CallAsync<Empty, Empty>(Probe, "Refuse", new Empty()));

        Assert.Equal((StatusCode.NotFound, "container t9: not found"), (failure.Code, failure.Message));
    }

    [Fact]
    public async Task Timeout_nano_must_cancel_the_handler_and_answer_DeadlineExceeded()
    {
        using var socket = await RawTtrpc.ConnectAsync(_service.SocketPath);
        var request = new WasmKata.Core.Protos.Ttrpc.Request { Service = Probe, Method = "Hang", TimeoutNano = 100_000_000 };

        await RawTtrpc.SendAsync(socket, RawTtrpc.Frame(1, 1, request.ToByteArray()));
        var response = await RawTtrpc.ReadResponseAsync(socket, 1);

        Assert.Equal((4, "context deadline exceeded"), (response.Status.Code, response.Status.Message));
        await _service.HangCancelled.Task.WaitAsync(RawTtrpc.Patience);
    }

    [Fact]
    public async Task Far_away_timeout_nano_must_still_be_answered()
    {
        using var socket = await RawTtrpc.ConnectAsync(_service.SocketPath);
        var request = new WasmKata.Core.Protos.Ttrpc.Request { Service = Probe, Method = "Nothing", TimeoutNano = long.MaxValue };

        await RawTtrpc.SendAsync(socket, RawTtrpc.Frame(1, 1, request.ToByteArray()));
        var frame = await RawTtrpc.ReadFrameAsync(socket);

        Assert.Equal(Convert.FromHexString("00000000000000010200"), frame.Header);
    }

    [Fact]
    public async Task Closed_connection_must_cancel_its_pending_handlers()
    {
        var client = await _service.ConnectAsync();
        var hanging = client.CallAsync<Empty, Empty>(Probe, "Hang", new Empty());
        await AssertEcho(client, "hang is in flight");

        await client.DisposeAsync();

        await Assert.ThrowsAsync<IOException>(() => hanging);
        await _service.HangCancelled.Task.WaitAsync(RawTtrpc.Patience);
    }

    [Fact]
    public async Task Metadata_must_reach_the_handler()
    {
        await using var client = await _service.ConnectAsync();

        var reply = await client.CallAsync<Empty, StringValue>(
            Probe, "Header", new Empty(), metadata: [new("x-probe", "v1"), new("x-probe", "v2")]);

        Assert.Equal("v1", reply.Value);
    }

    [Fact]
    public async Task Methods_registered_once_must_answer_under_every_service_name()
    {
        _service.Server.Service("containerd.task.v2.Task", "containerd.task.v3.Task")
            .Register<StringValue, StringValue>("State", (r, c) => Task.FromResult(new StringValue { Value = c.Service + "/" + r.Value }));
        await using var client = await _service.ConnectAsync();

        var v2 = await client.CallAsync<StringValue, StringValue>("containerd.task.v2.Task", "State", new StringValue { Value = "a" });
        var v3 = await client.CallAsync<StringValue, StringValue>("containerd.task.v3.Task", "State", new StringValue { Value = "b" });

        Assert.Equal(("containerd.task.v2.Task/a", "containerd.task.v3.Task/b"), (v2.Value, v3.Value));
    }

    [Fact]
    public async Task Raw_handler_must_get_the_payload_bytes_and_may_return_null()
    {
        var seen = new TaskCompletionSource<byte[]>(TaskCreationOptions.RunContinuationsAsynchronously);
        _service.Server.Register("wasmkata.test.Raw", "Take", (payload, _) =>
        {
            seen.TrySetResult(payload.ToArray());
            return Task.FromResult<IMessage?>(null);
        });
        using var socket = await RawTtrpc.ConnectAsync(_service.SocketPath);

        await RawTtrpc.SendAsync(socket, RawTtrpc.Frame(1, 1, RawTtrpc.RequestBody("wasmkata.test.Raw", "Take", [1, 2, 3])));
        var frame = await RawTtrpc.ReadFrameAsync(socket);

        Assert.Equal(new byte[] { 1, 2, 3 }, await seen.Task.WaitAsync(RawTtrpc.Patience));
        Assert.Equal(Convert.FromHexString("00000000000000010200"), frame.Header);
    }

    [Fact]
    public async Task Client_that_stops_reading_must_not_stall_other_clients()
    {
        using var stalled = await RawTtrpc.ConnectAsync(_service.SocketPath);
        var big = new StringValue { Value = new string('x', 512 * 1024) };
        for (uint id = 1; id <= 5; id += 2)
        {
            // Each reply alone overflows the socket buffers, since this client never reads.
            await RawTtrpc.SendRequestAsync(stalled, id, Probe, "Echo", big);
        }

        await using var other = await _service.ConnectAsync();
        await AssertEcho(other, "not stalled");
    }

    [Fact]
    public async Task Dispose_must_stop_accepting_and_close_connections()
    {
        using var socket = await RawTtrpc.ConnectAsync(_service.SocketPath);
        await Echo_must_still_work(socket, 1);

        await _service.Server.DisposeAsync();

        await _service.Running.WaitAsync(RawTtrpc.Patience);
        Assert.True(await RawTtrpc.IsClosedByPeerAsync(socket));
        await Assert.ThrowsAnyAsync<SocketException>(() => TtrpcClient.ConnectAsync(_service.SocketPath));
    }

    private static async Task Echo_must_still_work(Socket socket, uint streamId)
    {
        await RawTtrpc.SendRequestAsync(socket, streamId, Probe, "Echo", new StringValue { Value = "again" });
        var response = await RawTtrpc.ReadResponseAsync(socket, streamId);
        Assert.Null(response.Status);
        Assert.Equal("again", StringValue.Parser.ParseFrom(response.Payload).Value);
    }

    private static async Task AssertEcho(TtrpcClient client, string text)
    {
        var reply = await client.CallAsync<StringValue, StringValue>(Probe, "Echo", new StringValue { Value = text })
            .WaitAsync(RawTtrpc.Patience);
        Assert.Equal(text, reply.Value);
    }

    private static async Task Eventually(Func<bool> condition)
    {
        using var timeout = new CancellationTokenSource(RawTtrpc.Patience);
        while (!condition())
            await Task.Delay(10, timeout.Token);
    }
}
