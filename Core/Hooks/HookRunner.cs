using WasmKata.Core.Oci;
using WasmKata.Linux.Processes;

namespace WasmKata.Core.Hooks;

/// <summary>
/// Runs OCI hooks as host processes: argv and environment exactly as configured, the state JSON on stdin, output
/// kept for error messages, the timeout enforced with SIGKILL. Waiting holds no thread: exits arrive through pidfds
/// on the fd reactor.
/// </summary>
public static class HookRunner
{
    /// <summary>How much of each of stdout and stderr a failure reports.</summary>
    internal const int TailBytes = 4096;

    // After the hook exits, a child it left behind may still hold the pipes open; do not wait for it for long.
    private static readonly TimeSpan s_outputGrace = TimeSpan.FromMilliseconds(250);

    /// <summary>Pids of hooks still running (or exited and not yet reaped); <see cref="ChildReaper"/> leaves them alone.</summary>
    public static IReadOnlyCollection<int> LiveChildren => ChildReaper.Claimed;

    /// <summary>
    /// Whether a failing hook of <paramref name="kind"/> fails the operation it belongs to: prestart, createRuntime,
    /// createContainer and startContainer do; poststart and poststop failures are only logged.
    /// </summary>
    public static bool IsFatal(HookKind kind) => kind switch
    {
        HookKind.Prestart or HookKind.CreateRuntime or HookKind.CreateContainer or HookKind.StartContainer => true,
        HookKind.Poststart or HookKind.Poststop => false,
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    /// <summary>
    /// Runs <paramref name="hooks"/> of one kind in order, each with <paramref name="state"/> on stdin and the bundle
    /// as working directory (<c>/</c> when it is gone). For a fatal kind the first failure is thrown as
    /// <see cref="HookFailedException"/> and later hooks do not run; for the others every hook runs and the failures
    /// are returned for the caller to log. Cancelling kills the running hook and throws
    /// <see cref="OperationCanceledException"/>.
    /// </summary>
    public static async Task<IReadOnlyList<HookFailedException>> RunAsync(
        HookKind kind, IReadOnlyList<OciHook> hooks, OciState state, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(hooks);
        ArgumentNullException.ThrowIfNull(state);
        if (hooks.Count == 0)
            return [];

        var input = state.ToJsonBytes();
        var workingDirectory = Directory.Exists(state.Bundle) ? state.Bundle : "/";
        var failures = new List<HookFailedException>();
        for (var i = 0; i < hooks.Count; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var failure = await RunOneAsync(kind, i, hooks[i], input, workingDirectory, cancellationToken).ConfigureAwait(false);
            if (failure is null)
                continue;

            if (IsFatal(kind))
                throw failure;

            failures.Add(failure);
        }

        return failures;
    }

    private static async Task<HookFailedException?> RunOneAsync(
        HookKind kind, int index, OciHook hook, byte[] input, string workingDirectory, CancellationToken cancellationToken)
    {
        HostProcess process;
        try
        {
            process = HostProcess.Start(hook.Path, hook.Argv, hook.Env ?? [], workingDirectory);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            return new HookFailedException(kind, index, hook.Path, $"could not be started: {e.Message}", null, false, "", "", e);
        }

        using (process)
        {
            var stdout = new OutputTail(TailBytes);
            var stderr = new OutputTail(TailBytes);
            using var stopPumps = new CancellationTokenSource();
            var pumps = Task.WhenAll(
                PumpAsync(process.StandardOutput, stdout, stopPumps.Token),
                PumpAsync(process.StandardError, stderr, stopPumps.Token));
            var feed = FeedAsync(process.StandardInput, input);

            using var deadline = new CancellationTokenSource();
            if (hook.Timeout is { } seconds)
                deadline.CancelAfter(TimeSpan.FromSeconds(seconds));

            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);
            ChildExit exit;
            var timedOut = false;
            try
            {
                exit = await process.WaitForExitAsync(linked.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                process.Kill();
                exit = await process.Exited.ConfigureAwait(false);
                timedOut = deadline.IsCancellationRequested;
            }

            if (await Task.WhenAny(pumps, Task.Delay(s_outputGrace, CancellationToken.None)).ConfigureAwait(false) != pumps)
                await stopPumps.CancelAsync().ConfigureAwait(false);

            if (!feed.IsCompleted)
            {
                // A child the hook left behind holds stdin open and reads nothing; the pending write must not hang us.
                process.StandardInput.Dispose();
            }

            await pumps.ConfigureAwait(false);
            await feed.ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();

            if (timedOut)
            {
                return new HookFailedException(kind, index, hook.Path, $"timed out after {hook.Timeout}s", exit, true,
                    stdout.ToString(), stderr.ToString());
            }

            if (exit.Succeeded)
                return null;

            var what = exit.ExitCode is not null ? $"failed with {exit}" : $"failed: {exit}";
            return new HookFailedException(kind, index, hook.Path, what, exit, false, stdout.ToString(), stderr.ToString());
        }
    }

    private static async Task PumpAsync(Linux.Io.AsyncFd from, OutputTail into, CancellationToken stop)
    {
        var buffer = new byte[TailBytes];
        try
        {
            while (true)
            {
                var n = await from.ReadAsync(buffer, stop).ConfigureAwait(false);
                if (n == 0)
                    return;

                into.Append(buffer.AsSpan(0, n));
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or IOException)
        {
            // Output only decorates the failure message; losing its end must not fail the hook.
        }
    }

    private static async Task FeedAsync(Linux.Io.AsyncFd stdin, byte[] input)
    {
        try
        {
            await stdin.WriteAsync(input).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            // The hook exited (EPIPE) or was killed without reading its state; its exit status tells the story.
        }
        finally
        {
            stdin.Dispose();
        }
    }
}
