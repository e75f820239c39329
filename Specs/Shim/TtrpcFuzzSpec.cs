using System.Buffers.Binary;
using System.Diagnostics;
using System.Net.Sockets;
using Akka.Actor;
using WasmKata.Actors;
using WasmKata.Actors.Engine;
using WasmKata.Actors.Sandbox;
using WasmKata.Shim.Protos.TaskApi;
using WasmKata.Shim.Protos.Ttrpc;
using WasmKata.Shim.Service;
using WasmKata.Shim.Ttrpc;
using WasmKata.Specs.Actors;
using Xunit;
using Xunit.Abstractions;

namespace WasmKata.Specs.Shim;

/// <summary>
/// A time-bounded fuzz run of the real ttrpc server serving the real task API over a real sandbox actor.
/// WASMKATA_FUZZ_SECONDS sets the budget (default 15), WASMKATA_FUZZ_SEED replays a run (every failure names its seed).
/// </summary>
[Collection(QuietCollection.Name)]
[Trait("Category", "Fuzz")]
public sealed class TtrpcFuzzSpec(ITestOutputHelper output) : IAsyncLifetime
{
    private const int Workers = 4;
    private const int MaxStalled = 48;
    private static readonly TimeSpan Answer = TimeSpan.FromSeconds(10);

    private readonly UnixSocketDir _dir = new();
    private readonly string _stateRoot = Directory.CreateTempSubdirectory("wk-fuzz-state-").FullName;
    private ActorSystem _system = null!;
    private WasmEngine _engine = null!;
    private TtrpcServer _server = null!;
    private IActorRef _sandbox = null!;
    private Task _serving = null!;
    private int _shutdowns;

    private string SocketPath => _dir.SocketPath();

    public Task InitializeAsync()
    {
        _system = ActorSystem.Create("fuzz", "akka.loglevel = ERROR\nakka.log-dead-letters = off");
        _engine = new WasmEngine(new EngineOptions());
        var settings = new RuntimeSettings { Namespace = "fuzz", StateRoot = _stateRoot, ReapOrphans = false };
        _sandbox = _system.ActorOf(SandboxProtocol.Props(_engine, new RecordingEventSink(), settings, new NoExit()), "sandbox");
        _server = new TtrpcServer(UnixSocketDir.Listen(SocketPath));
        new TaskService(_sandbox, () => Interlocked.Increment(ref _shutdowns)).Register(_server);
        _serving = _server.RunAsync();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        await _system.Terminate();
        _engine.Dispose();
        _dir.Dispose();
        Directory.Delete(_stateRoot, recursive: true);
    }

    [Fact]
    public async Task Fuzzed_input_must_get_errors_or_closed_connections_and_leave_the_server_serving_bounded_and_idle()
    {
        var seed = Environment.GetEnvironmentVariable("WASMKATA_FUZZ_SEED") is { Length: > 0 } s ? int.Parse(s) : Environment.TickCount;
        var budget = TimeSpan.FromSeconds(Environment.GetEnvironmentVariable("WASMKATA_FUZZ_SECONDS") is { Length: > 0 } b ? double.Parse(b) : 15);
        var because = $"(fuzz seed {seed}: rerun with WASMKATA_FUZZ_SEED={seed})";
        output.WriteLine($"fuzz seed {seed}, budget {budget.TotalSeconds} s, {Workers} workers");

        // Warm up the paths the run takes, then take the baseline.
        await AssertServingAsync(because);
        var heapBefore = GC.GetTotalMemory(forceFullCollection: true);
        var threadsBefore = Process.GetCurrentProcess().Threads.Count;

        var tally = new Tally();
        var stalled = new StalledClients(MaxStalled);
        var stop = Stopwatch.StartNew();
        try
        {
            await Task.WhenAll(Enumerable.Range(0, Workers).Select(w => Task.Run(() =>
                WorkerAsync(new TtrpcFuzzer(new Random(seed + w)), new Random(seed ^ (w + 1) * 7919), tally, stalled, budget, because))));
        }
        finally
        {
            stalled.Dispose();
        }

        var elapsed = stop.Elapsed;

        // Every client is gone: no connection may linger, no handler may still run.
        await EventuallyAsync(() => _server.ConnectionCount == 0 && _server.RequestsInFlight == 0, Answer,
            () => $"{_server.ConnectionCount} connections and {_server.RequestsInFlight} requests still open after the clients left {because}");
        await AssertServingAsync(because);
        var heapAfter = GC.GetTotalMemory(forceFullCollection: true);
        var threadsAfter = Process.GetCurrentProcess().Threads.Count;

        output.WriteLine($"inputs tried: {tally.Total} in {elapsed.TotalSeconds:F1} s ({tally.Total / elapsed.TotalSeconds:F0}/s)");
        foreach (var (kind, count) in tally.ByKind)
        {
            output.WriteLine($"  {kind}: {count}");
        }

        output.WriteLine($"answers by status code: {string.Join(", ", tally.ByStatus.Select(p => $"{p.Key}={p.Value}"))}");
        output.WriteLine($"connections closed by the server: {tally.ClosedByServer}; Shutdown requests honoured: {_shutdowns}");
        output.WriteLine($"GC heap: {heapBefore >> 10} KiB before, {heapAfter >> 10} KiB after; threads: {threadsBefore} before, {threadsAfter} after");

        Assert.True(tally.Total > 1000, $"only {tally.Total} inputs in {elapsed} {because}");
        Assert.True(heapAfter - heapBefore < 64L << 20, $"GC heap grew from {heapBefore} to {heapAfter} bytes {because}");
        // The thread pool keeps the workers it injected under load for ~20 s; a stuck handler shows in RequestsInFlight.
        Assert.True(threadsAfter - threadsBefore < 64, $"threads grew from {threadsBefore} to {threadsAfter} {because}");
        // Unknown is what a handler's unexpected exception becomes: every refusal must be a deliberate status.
        Assert.True(tally.ByStatus.All(p => p.Key != (int)StatusCode.Unknown), $"{tally.ByStatus.FirstOrDefault(p => p.Key == (int)StatusCode.Unknown).Value} answers were Unknown {because}");
        var left = await _sandbox.Ask<SandboxProtocol.ContainerList>(SandboxProtocol.ListContainers.Instance, Answer);
        Assert.True(left.Ids.Count == 0, $"fuzzing created containers: {string.Join(", ", left.Ids)} {because}");
        Assert.Empty(Directory.EnumerateFileSystemEntries(_stateRoot));
    }

    private async Task WorkerAsync(TtrpcFuzzer fuzzer, Random random, Tally tally, StalledClients stalled, TimeSpan budget, string because)
    {
        var deadline = Stopwatch.StartNew();
        var garbageIndex = 0;
        while (deadline.Elapsed < budget)
        {
            var roll = random.Next(100);
            if (roll < 15)
            {
                tally.Count(FuzzKind.RandomBytes);
                await SendAndDrainAsync(fuzzer.RandomBytes(), tally, because);
            }
            else if (roll < 50)
            {
                tally.Count(FuzzKind.MutatedFrames);
                await SendAndDrainAsync(fuzzer.MutatedFrames(), tally, because);
            }
            else if (roll < 80)
            {
                tally.Count(FuzzKind.GarbagePayload);
                await RequestAsync(fuzzer.GarbagePayload(garbageIndex++), tally, because);
            }
            else if (roll < 96)
            {
                tally.Count(FuzzKind.RandomFields);
                await RequestAsync(fuzzer.RandomFields(), tally, because);
            }
            else
            {
                tally.Count(FuzzKind.Stall);
                var socket = await RawTtrpc.ConnectAsync(SocketPath);
                await RawTtrpc.SendAsync(socket, fuzzer.StallPrefix());
                stalled.Add(socket);
            }
        }
    }

    /// <summary>Sends bytes, ends the stream, and reads until the server closes: every frame it sends must be a well-formed response.</summary>
    private async Task SendAndDrainAsync(byte[] bytes, Tally tally, string because)
    {
        using var socket = await RawTtrpc.ConnectAsync(SocketPath);
        try
        {
            await RawTtrpc.SendAsync(socket, bytes);
            socket.Shutdown(SocketShutdown.Send);
        }
        catch (SocketException)
        {
            // The server may close a connection before it has read everything: that is an allowed answer.
        }

        using var timeout = new CancellationTokenSource(Answer);
        try
        {
            while (await ReadFrameAsync(socket, timeout.Token) is { } frame)
            {
                tally.Answered(CheckResponse(frame, because));
            }
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"the server neither answered nor closed within {Answer} after {bytes.Length} bytes " +
                        $"{Convert.ToHexString(bytes.AsSpan(0, Math.Min(64, bytes.Length)))} {because}");
        }

        tally.Closed();
    }

    /// <summary>Sends a well-formed request frame; it must be answered on its stream id.</summary>
    private async Task RequestAsync((byte[] Frame, uint StreamId, string Method) request, Tally tally, string because)
    {
        using var socket = await RawTtrpc.ConnectAsync(SocketPath);
        await RawTtrpc.SendAsync(socket, request.Frame);
        using var timeout = new CancellationTokenSource(Answer);
        RawFrame? frame;
        try
        {
            frame = await ReadFrameAsync(socket, timeout.Token);
        }
        catch (OperationCanceledException)
        {
            frame = null;
        }

        var body = Request.Parser.ParseFrom(request.Frame.AsSpan(10));
        Assert.True(frame is not null, $"no answer to {body.Service}/{body.Method} (stream {request.StreamId}) within {Answer} {because}");
        Assert.True(frame.StreamId == request.StreamId, $"answer on stream {frame.StreamId}, asked on {request.StreamId} {because}");
        tally.Answered(CheckResponse(frame, because));
    }

    private static int CheckResponse(RawFrame frame, string because)
    {
        Assert.True(frame.Type == 2, $"the server sent a frame of type {frame.Type} {because}");
        Response response;
        try
        {
            response = Response.Parser.ParseFrom(frame.Body);
        }
        catch (Google.Protobuf.InvalidProtocolBufferException e)
        {
            throw new Xunit.Sdk.XunitException($"the server sent an undecodable response: {e.Message} {because}");
        }

        return response.Status?.Code ?? 0;
    }

    private static async Task<RawFrame?> ReadFrameAsync(Socket socket, CancellationToken token)
    {
        var header = new byte[10];
        if (!await ReadExactlyAsync(socket, header, token))
        {
            return null;
        }

        var length = BinaryPrimitives.ReadUInt32BigEndian(header);
        Assert.True(length <= TtrpcFuzzer.MaxFrame, $"the server announced a {length}-byte frame");
        var body = new byte[length];
        if (!await ReadExactlyAsync(socket, body, token))
        {
            throw new Xunit.Sdk.XunitException("the server closed in the middle of a frame");
        }

        return new RawFrame(header, BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(4)), header[8], header[9], body);
    }

    private static async Task<bool> ReadExactlyAsync(Socket socket, byte[] buffer, CancellationToken token)
    {
        var filled = 0;
        while (filled < buffer.Length)
        {
            int read;
            try
            {
                read = await socket.ReceiveAsync(buffer.AsMemory(filled), SocketFlags.None, token);
            }
            catch (SocketException)
            {
                return false; // reset by the server
            }

            if (read == 0)
            {
                if (filled == 0)
                {
                    return false;
                }

                throw new Xunit.Sdk.XunitException($"the server closed after {filled} of {buffer.Length} bytes");
            }

            filled += read;
        }

        return true;
    }

    /// <summary>The server still works for a new client: Connect answers with our pid, State of nothing is NotFound.</summary>
    private async Task AssertServingAsync(string because)
    {
        await using var client = await TtrpcClient.ConnectAsync(SocketPath).WaitAsync(Answer);
        var connected = await client.CallAsync<ConnectRequest, ConnectResponse>(TaskService.ServiceNames[0], "Connect", new ConnectRequest { Id = "probe" })
            .WaitAsync(Answer);
        Assert.True(connected.ShimPid == (uint)Environment.ProcessId, $"Connect answered pid {connected.ShimPid} {because}");
        var missing = await Assert.ThrowsAsync<TtrpcException>(() =>
            client.CallAsync<StateRequest, StateResponse>(TaskService.ServiceNames[1], "State", new StateRequest { Id = "probe" }).WaitAsync(Answer));
        Assert.True(missing.Code == StatusCode.NotFound, $"State of an unknown container answered {missing.Code} {because}");
    }

    private static async Task EventuallyAsync(Func<bool> condition, TimeSpan timeout, Func<string> message)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > timeout)
            {
                Assert.Fail(message());
            }

            await Task.Delay(20);
        }
    }

    private sealed class NoExit : IShimLifetime
    {
        public void RequestExit()
        {
        }
    }

    /// <summary>Clients that connect, send part of something and stop; the oldest is let go when there are too many.</summary>
    private sealed class StalledClients(int max) : IDisposable
    {
        private readonly Queue<Socket> _sockets = new();
        private readonly Lock _gate = new();

        public void Add(Socket socket)
        {
            lock (_gate)
            {
                _sockets.Enqueue(socket);
                if (_sockets.Count > max)
                {
                    _sockets.Dequeue().Dispose();
                }
            }
        }

        public void Dispose()
        {
            lock (_gate)
            {
                while (_sockets.TryDequeue(out var socket))
                {
                    socket.Dispose();
                }
            }
        }
    }

    private sealed class Tally
    {
        private readonly Lock _gate = new();
        private readonly SortedDictionary<FuzzKind, int> _kinds = new();
        private readonly SortedDictionary<int, int> _statuses = new();
        private int _closed;

        public int Total
        {
            get
            {
                lock (_gate)
                {
                    return _kinds.Values.Sum();
                }
            }
        }

        public IReadOnlyList<KeyValuePair<FuzzKind, int>> ByKind
        {
            get
            {
                lock (_gate)
                {
                    return _kinds.ToList();
                }
            }
        }

        public IReadOnlyList<KeyValuePair<int, int>> ByStatus
        {
            get
            {
                lock (_gate)
                {
                    return _statuses.ToList();
                }
            }
        }

        public int ClosedByServer => Volatile.Read(ref _closed);

        public void Count(FuzzKind kind)
        {
            lock (_gate)
            {
                _kinds[kind] = _kinds.GetValueOrDefault(kind) + 1;
            }
        }

        public void Answered(int status)
        {
            lock (_gate)
            {
                _statuses[status] = _statuses.GetValueOrDefault(status) + 1;
            }
        }

        public void Closed() => Interlocked.Increment(ref _closed);
    }
}
