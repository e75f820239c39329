using WasmKata.Core.Protos.TaskApi;
using WasmKata.Shim.Service;
using WasmKata.Shim.Ttrpc;
using Xunit;
using Xunit.Abstractions;

namespace WasmKata.Specs.Shim;

/// <summary>
/// Requests that race each other for one container id, over the real ttrpc server and task service: each must be
/// answered. The fuzz run met this as a Delete that never got an answer (it had reached a container actor whose Create
/// was failing at that moment).
/// </summary>
public sealed class TtrpcRaceSpec(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly TimeSpan Answer = TimeSpan.FromSeconds(10);
    private static readonly string Service = TaskService.ServiceNames[0];

    private InProcessTaskApi _api = null!;

    public Task InitializeAsync()
    {
        _api = new InProcessTaskApi("race", () => { });
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _api.DisposeAsync();

    [Fact]
    public async Task Delete_and_state_sent_together_with_a_failing_create_must_be_answered()
    {
        const int Rounds = 100;
        await using var client = await TtrpcClient.ConnectAsync(_api.SocketPath).WaitAsync(Answer);
        var calls = new List<(string What, Task<StatusCode> Answer)>();
        for (var round = 0; round < Rounds; round++)
        {
            // Pipelined on one connection: the server hands each to the task service at once, in any order.
            var id = $"race-{round}";
            calls.Add(($"Create {id}", StatusOf(client.CallAsync<CreateTaskRequest, CreateTaskResponse>(Service, "Create",
                new CreateTaskRequest { Id = id, Bundle = "/nonexistent/bundle" }))));
            calls.Add(($"Delete {id}", StatusOf(client.CallAsync<DeleteRequest, DeleteResponse>(Service, "Delete", new DeleteRequest { Id = id }))));
            calls.Add(($"State {id}", StatusOf(client.CallAsync<StateRequest, StateResponse>(Service, "State", new StateRequest { Id = id }))));
        }

        await Task.WhenAny(Task.WhenAll(calls.Select(c => c.Answer)), Task.Delay(Answer));
        var unanswered = calls.Where(c => !c.Answer.IsCompleted).Select(c => c.What).ToList();
        output.WriteLine($"{calls.Count} calls, {unanswered.Count} unanswered after {Answer.TotalSeconds} s: {string.Join(", ", unanswered)}");
        Assert.True(unanswered.Count == 0, $"{unanswered.Count} of {calls.Count} calls got no answer within {Answer}: {string.Join(", ", unanswered.Take(10))}");
        foreach (var (what, answer) in calls)
        {
            var expected = what.StartsWith("Create", StringComparison.Ordinal) ? StatusCode.InvalidArgument : StatusCode.NotFound;
            Assert.True(await answer == expected, $"{what} answered {await answer}, expected {expected}");
        }
    }

    private static async Task<StatusCode> StatusOf<T>(Task<T> call)
    {
        try
        {
            await call;
            return StatusCode.OK;
        }
        catch (TtrpcException e)
        {
            return e.Code;
        }
    }
}
