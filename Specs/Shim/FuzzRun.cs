using System.Buffers.Binary;
using System.Diagnostics;
using System.Net.Sockets;
using WasmKata.Core.Protos.Ttrpc;
using Xunit;
using Xunit.Abstractions;

namespace WasmKata.Specs.Shim;

/// <summary>
/// A time-bounded fuzz run against a ttrpc task server at <paramref name="socketPath"/>: several workers, each with its
/// own <see cref="TtrpcFuzzer"/> seeded from <paramref name="seed"/>, until <paramref name="budget"/> is spent. Every
/// frame the server sends must be a well-formed response, every well-formed request must be answered, and every
/// connection whose client finished sending must be answered or closed.
/// </summary>
internal sealed class FuzzRun(string socketPath, int seed, TimeSpan budget, int workers = 4, int maxStalled = 48)
{
    private static readonly TimeSpan Answer = TimeSpan.FromSeconds(10);

    // How far back a failure shows what every worker sent before the input that failed.
    private static readonly TimeSpan Lead = TimeSpan.FromSeconds(2);

    public FuzzTally Tally { get; } = new();

    public TimeSpan Elapsed { get; private set; }

    /// <summary>How a failure names the run, so that it can be replayed.</summary>
    public string Because => $"(fuzz seed {seed}: rerun with WASMKATA_FUZZ_SEED={seed})";

    /// <summary>The seed from WASMKATA_FUZZ_SEED, or a new one.</summary>
    public static int SeedFromEnvironment() =>
        Environment.GetEnvironmentVariable("WASMKATA_FUZZ_SEED") is { Length: > 0 } s ? int.Parse(s) : Environment.TickCount;

    public async Task RunAsync()
    {
        var stalled = new StalledClients(maxStalled);
        var clock = Stopwatch.StartNew();
        try
        {
            await Task.WhenAll(Enumerable.Range(0, workers).Select(w => Task.Run(() =>
                WorkerAsync(w, new TtrpcFuzzer(new Random(seed + w)), new Random(seed ^ (w + 1) * 7919), stalled))));
        }
        finally
        {
            stalled.Dispose();
            Elapsed = clock.Elapsed;
        }
    }

    /// <summary>Inputs by kind and answers by status code.</summary>
    public void Report(ITestOutputHelper output)
    {
        output.WriteLine($"inputs tried: {Tally.Total} in {Elapsed.TotalSeconds:F1} s ({Tally.Total / Elapsed.TotalSeconds:F0}/s)");
        foreach (var (kind, count) in Tally.ByKind)
            output.WriteLine($"  {kind}: {count}");

        output.WriteLine($"answers by status code: {string.Join(", ", Tally.ByStatus.Select(p => $"{p.Key}={p.Value}"))}");
        output.WriteLine($"connections closed by the server: {Tally.ClosedByServer}");
        output.WriteLine($"answer times: {Tally.AnswerTimes()}; slowest:");
        foreach (var input in Tally.Slowest(5))
            output.WriteLine("  " + input.Describe(Elapsed));
    }

    /// <summary>The checks every run ends with: enough inputs, and no Unknown status (a handler's unexpected exception).</summary>
    public void AssertSane(int minimumInputs)
    {
        Assert.True(Tally.Total >= minimumInputs, $"only {Tally.Total} inputs in {Elapsed} {Because}");
        var unknown = Tally.ByStatus.FirstOrDefault(p => p.Key == (int)WasmKata.Shim.Ttrpc.StatusCode.Unknown).Value;
        Assert.True(unknown == 0, $"{unknown} answers were Unknown {Because}");
    }

    private async Task WorkerAsync(int worker, TtrpcFuzzer fuzzer, Random random, StalledClients stalled)
    {
        var deadline = Stopwatch.StartNew();
        var garbageIndex = 0;
        while (deadline.Elapsed < budget)
        {
            var roll = random.Next(100);
            if (roll < 15)
            {
                await SendAndDrainAsync(Tally.Begin(worker, FuzzKind.RandomBytes, fuzzer.RandomBytes()));
            }
            else if (roll < 50)
            {
                await SendAndDrainAsync(Tally.Begin(worker, FuzzKind.MutatedFrames, fuzzer.MutatedFrames()));
            }
            else if (roll < 80)
            {
                var request = fuzzer.GarbagePayload(garbageIndex++);
                await RequestAsync(Tally.Begin(worker, FuzzKind.GarbagePayload, request.Frame, request.StreamId));
            }
            else if (roll < 96)
            {
                var request = fuzzer.RandomFields();
                await RequestAsync(Tally.Begin(worker, FuzzKind.RandomFields, request.Frame, request.StreamId));
            }
            else
            {
                var prefix = fuzzer.StallPrefix();
                var input = Tally.Begin(worker, FuzzKind.Stall, prefix);
                var socket = await RawTtrpc.ConnectAsync(socketPath);
                await RawTtrpc.SendAsync(socket, prefix);
                stalled.Add(socket);
                Tally.Sent(input);
            }
        }
    }

    /// <summary>Sends bytes, ends the stream, and reads until the server closes: every frame it sends must be a well-formed response.</summary>
    private async Task SendAndDrainAsync(FuzzInput input)
    {
        using var socket = await RawTtrpc.ConnectAsync(socketPath);
        try
        {
            await RawTtrpc.SendAsync(socket, input.Bytes);
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
                Tally.Answered(input, CheckResponse(frame, Because));
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"the server neither answered nor closed within {Answer} after {input.Bytes.Length} bytes {Because}{Tally.Explain(input, Lead)}");
        }

        Tally.Closed(input);
    }

    /// <summary>Sends a well-formed request frame; it must be answered on its stream id.</summary>
    private async Task RequestAsync(FuzzInput input)
    {
        using var socket = await RawTtrpc.ConnectAsync(socketPath);
        await RawTtrpc.SendAsync(socket, input.Bytes);
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

        var body = Request.Parser.ParseFrom(input.Bytes.AsSpan(10));
        Assert.True(frame is not null, $"no answer to {body.Service}/{body.Method} (stream {input.StreamId}) within {Answer} {Because}{Tally.Explain(input, Lead)}");
        Assert.True(frame.StreamId == input.StreamId, $"answer on stream {frame.StreamId}, asked on {input.StreamId} {Because}");
        Tally.Answered(input, CheckResponse(frame, Because));
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
            return null;

        var length = BinaryPrimitives.ReadUInt32BigEndian(header);
        Assert.True(length <= TtrpcFuzzer.MaxFrame, $"the server announced a {length}-byte frame");
        var body = new byte[length];
        if (!await ReadExactlyAsync(socket, body, token))
            throw new Xunit.Sdk.XunitException("the server closed in the middle of a frame");

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
                    return false;

                throw new Xunit.Sdk.XunitException($"the server closed after {filled} of {buffer.Length} bytes");
            }

            filled += read;
        }

        return true;
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
                    _sockets.Dequeue().Dispose();
            }
        }

        public void Dispose()
        {
            lock (_gate)
            {
                while (_sockets.TryDequeue(out var socket))
                    socket.Dispose();
            }
        }
    }
}
