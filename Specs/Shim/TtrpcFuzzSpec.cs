using System.Diagnostics;
using Akka.Actor;
using Akka.Event;
using WasmKata.Actors;
using WasmKata.Actors.Sandbox;
using WasmKata.Core.Protos.TaskApi;
using WasmKata.Shim.Service;
using WasmKata.Shim.Ttrpc;
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
    private static readonly TimeSpan Answer = TimeSpan.FromSeconds(10);

    private InProcessTaskApi _api = null!;
    private IActorRef _lostCommands = null!;
    private int _shutdowns;

    private string SocketPath => _api.SocketPath;

    public Task InitializeAsync()
    {
        _api = new InProcessTaskApi("fuzz", () => Interlocked.Increment(ref _shutdowns));
        // A task command in dead letters is an RPC nobody will ever answer (the task service asks without a timeout).
        _lostCommands = _api.System.ActorOf(Props.Create(() => new LostCommands()), "lost-commands");
        _api.System.EventStream.Subscribe(_lostCommands, typeof(DeadLetter));
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _api.DisposeAsync();

    [Fact]
    public async Task Fuzzed_input_must_get_errors_or_closed_connections_and_leave_the_server_serving_bounded_and_idle()
    {
        var seed = FuzzRun.SeedFromEnvironment();
        var budget = TimeSpan.FromSeconds(Environment.GetEnvironmentVariable("WASMKATA_FUZZ_SECONDS") is { Length: > 0 } b ? double.Parse(b) : 15);
        var because = $"(fuzz seed {seed}: rerun with WASMKATA_FUZZ_SEED={seed})";
        output.WriteLine($"fuzz seed {seed}, budget {budget.TotalSeconds} s");

        // Warm up the paths the run takes, then take the baseline.
        await AssertServingAsync(because);
        var heapBefore = GC.GetTotalMemory(forceFullCollection: true);
        var threadsBefore = Process.GetCurrentProcess().Threads.Count;

        var run = new FuzzRun(SocketPath, seed, budget);
        await run.RunAsync();
        // Every client is gone: no connection may linger, no handler may still run.
        await EventuallyAsync(() => _api.Server.ConnectionCount == 0 && _api.Server.RequestsInFlight == 0, Answer,
            () => $"{_api.Server.ConnectionCount} connections and {_api.Server.RequestsInFlight} requests still open after the clients left {because}");
        await AssertServingAsync(because);
        var heapAfter = GC.GetTotalMemory(forceFullCollection: true);
        var threadsAfter = Process.GetCurrentProcess().Threads.Count;

        run.Report(output);
        output.WriteLine($"Shutdown requests honoured: {_shutdowns}");
        output.WriteLine($"GC heap: {heapBefore >> 10} KiB before, {heapAfter >> 10} KiB after; threads: {threadsBefore} before, {threadsAfter} after");

        run.AssertSane(1000);
        var lost = await _lostCommands.Ask<IReadOnlyList<string>>(LostCommands.Report, Answer);
        Assert.True(lost.Count == 0, $"{lost.Count} task commands went to dead letters, never to be answered: {string.Join("; ", lost.Take(5))} {because}");
        Assert.True(heapAfter - heapBefore < 64L << 20, $"GC heap grew from {heapBefore} to {heapAfter} bytes {because}");
        // The thread pool keeps the workers it injected under load for ~20 s; a stuck handler shows in RequestsInFlight.
        Assert.True(threadsAfter - threadsBefore < 64, $"threads grew from {threadsBefore} to {threadsAfter} {because}");
        var left = await _api.Sandbox.Ask<SandboxProtocol.ContainerList>(SandboxProtocol.ListContainers.Instance, Answer);
        Assert.True(left.Ids.Count == 0, $"fuzzing created containers: {string.Join(", ", left.Ids)} {because}");
        Assert.Empty(Directory.EnumerateFileSystemEntries(_api.StateRoot));
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
                Assert.Fail(message());

            await Task.Delay(20);
        }
    }

    /// <summary>Keeps the task commands that ended in dead letters; answers <see cref="Report"/> with them.</summary>
    private sealed class LostCommands : ReceiveActor
    {
        public static readonly object Report = new();

        public LostCommands()
        {
            var lost = new List<string>();
            Receive<DeadLetter>(d =>
            {
                if (d.Message is ITaskCommand)
                    lost.Add($"{d.Message} to {d.Recipient.Path}");
            });
            ReceiveAny(m =>
            {
                if (ReferenceEquals(m, Report))
                    Sender.Tell((IReadOnlyList<string>)[.. lost]);
            });
        }
    }

}
