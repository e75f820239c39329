using System.Collections.Concurrent;
using Tmds.DBus.Protocol;

namespace WasmKata.Linux.Systemd;

// A start or stop answers with a job at once; what became of it comes later, in a JobRemoved signal.
public sealed partial class SystemdManager
{
    private const int FinishedJobsKept = 512;

    private readonly ConcurrentDictionary<string, TaskCompletionSource<string>> _waiting = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _finished = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<string> _finishedOrder = new();
    private IDisposable? _jobWatch;

    // Signals are only sent to subscribers on the bus (always on the private socket); a peer-to-peer message has no
    // sender, so the match names none there.
    private async Task WatchJobsAsync()
    {
        var rule = new MatchRule
        {
            Type = MessageType.Signal,
            Path = ManagerPath,
            Interface = ManagerInterface,
            Member = "JobRemoved",
            Sender = ThroughBus ? Service : null,
        };
        _jobWatch = await _connection.AddMatchAsync(
            rule,
            static (message, _) =>
            {
                var reader = message.GetBodyReader();
                reader.ReadUInt32();
                var job = reader.ReadObjectPathAsString();
                reader.ReadString();
                return (Job: job, Result: reader.ReadString());
            },
            notification =>
            {
                if (notification.HasValue)
                    OnJobRemoved(notification.Value.Job, notification.Value.Result);
            },
            emitOnCapturedContext: false,
            ObserverFlags.None).ConfigureAwait(false);
        await CallAsync(ManagerPath, ManagerInterface, "Subscribe", null, (ref MessageWriter _) => { }).ConfigureAwait(false);
    }

    private void OnJobRemoved(string? job, string? result)
    {
        if (job is null || result is null)
            return;

        if (_waiting.TryRemove(job, out var waiter))
        {
            waiter.TrySetResult(result);
            return;
        }

        // The signal can beat the reply that names the job: keep recent results for a waiter still to come.
        _finished[job] = result;
        _finishedOrder.Enqueue(job);
        while (_finishedOrder.Count > FinishedJobsKept && _finishedOrder.TryDequeue(out var old))
            _finished.TryRemove(old, out _);
    }

    private async Task<string> WaitForJobAsync(string job, CancellationToken cancellationToken)
    {
        if (_finished.TryRemove(job, out var early))
            return early;

        var waiter = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        _waiting[job] = waiter;
        if (_finished.TryRemove(job, out early))
        {
            _waiting.TryRemove(job, out _);
            return early;
        }

        try
        {
            return await waiter.Task.WaitAsync(JobTimeout, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException e)
        {
            throw new SystemdException($"systemd job {job} did not finish within {JobTimeout.TotalSeconds:0} s", "timeout", e);
        }
        finally
        {
            _waiting.TryRemove(job, out _);
        }
    }
}
