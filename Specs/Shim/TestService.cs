using Google.Protobuf.WellKnownTypes;
using WasmKata.Shim.Ttrpc;

namespace WasmKata.Specs.Shim;

/// <summary>A real <see cref="TtrpcServer"/> on a temp unix socket with a small test service.</summary>
internal sealed class TestService : IAsyncDisposable
{
    public const string Name = "wasmkata.test.Probe";

    private readonly UnixSocketDir _dir = new();
    private readonly Task _run;
    private int _entered;

    public TestService()
    {
        SocketPath = _dir.SocketPath();
        Server = new TtrpcServer(UnixSocketDir.Listen(SocketPath));
        Server.Register<StringValue, StringValue>(Name, "Echo", (request, _) => Task.FromResult(request));
        Server.Register<Empty, Empty>(Name, "Nothing", (_, _) => Task.FromResult(new Empty()));
        Server.Register<StringValue, StringValue>(Name, "Gated", async (request, _) =>
        {
            Interlocked.Increment(ref _entered);
            await Gate.Task;
            return request;
        });
        Server.Register<Empty, Empty>(Name, "Hang", async (_, context) =>
        {
            try
            {
                await Task.Delay(Timeout.Infinite, context.CancellationToken);
            }
            catch (OperationCanceledException)
            {
                HangCancelled.TrySetResult();
                throw;
            }

            return new Empty();
        });
        Server.Register<Empty, Empty>(Name, "Throw", (_, _) => throw new InvalidOperationException("boom"));
        Server.Register<Empty, Empty>(Name, "Refuse", (_, _) => throw new TtrpcException(StatusCode.NotFound, "container t9: not found"));
        Server.Register<Empty, StringValue>(Name, "Header", (_, context) =>
            Task.FromResult(new StringValue { Value = context.GetMetadata("x-probe") ?? "<none>" }));
        Server.Register<Empty, UInt32Value>(Name, "StreamId", (_, context) =>
            Task.FromResult(new UInt32Value { Value = context.StreamId }));
        _run = Server.RunAsync();
    }

    public TtrpcServer Server { get; }

    public string SocketPath { get; }

    /// <summary>Released by a spec to let every "Gated" call finish.</summary>
    public TaskCompletionSource Gate { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completed when a "Hang" handler saw its token cancelled.</summary>
    public TaskCompletionSource HangCancelled { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>How many "Gated" handlers have started.</summary>
    public int Entered => Volatile.Read(ref _entered);

    /// <summary>The accept loop; completes when the server stops.</summary>
    public Task Running => _run;

    public Task<TtrpcClient> ConnectAsync() => TtrpcClient.ConnectAsync(SocketPath).WaitAsync(RawTtrpc.Patience);

    public async ValueTask DisposeAsync()
    {
        Gate.TrySetResult();
        await Server.DisposeAsync();
        _dir.Dispose();
    }
}
