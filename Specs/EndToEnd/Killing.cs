using System.Diagnostics;
using Xunit;

namespace WasmKata.Specs.EndToEnd;

/// <summary>How a killed foreground run ended, and how long from `ctr task kill` to its ctr's exit.</summary>
public sealed record KilledRun(ProcessResult Run, TimeSpan KillToExit);

/// <summary>Kills a container's task from a second ctr while a foreground `ctr run --rm` waits on it.</summary>
public static class Killing
{
    /// <summary>
    /// Starts `ctr run --rm` in the background, waits until the guest has printed READY_TEXT and the task is
    /// RUNNING, sends SIGKILL with `ctr task kill`, and returns the foreground ctr's result: its exit status is
    /// the task's (137 for SIGKILL).
    /// </summary>
    public static async Task<KilledRun> KillForegroundRunAsync(
        ContainerdFixture fixture, string? runtime, string image, string readyText, params string[] command)
    {
        var ctr = fixture.Ctr;
        var id = ContainerdFixture.NewId("kill");
        using var foreground = ctr.Start(Ctr.RunArgs(runtime, image, id, null, command));
        try
        {
            await WaitForOutputAsync(fixture, foreground, readyText, TimeSpan.FromSeconds(20));
            await ctr.WaitForTaskStatusAsync(id, "RUNNING", TimeSpan.FromSeconds(10));

            var clock = Stopwatch.StartNew();
            var kill = await ctr.RunAsync("task", "kill", "-s", "SIGKILL", id);
            Assert.True(kill.ExitCode == 0, ctr.Explain(kill));
            var run = await foreground.WaitAsync(TimeSpan.FromSeconds(20), () => fixture.LogTail());
            return new KilledRun(run, clock.Elapsed);
        }
        catch
        {
            foreground.Kill();
            await ctr.ForceRemoveAsync(id);
            throw;
        }
    }

    private static async Task WaitForOutputAsync(
        ContainerdFixture fixture, ChildProcess foreground, string text, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!foreground.StdoutSoFar().Contains(text, StringComparison.Ordinal))
        {
            if (foreground.HasExited)
            {
                var ended = await foreground.WaitAsync(TimeSpan.FromSeconds(5));
                Assert.Fail($"ctr run ended before the guest printed \"{text}\": " +
                            ended.Describe() + "\n" + fixture.LogTail());
            }

            if (DateTime.UtcNow > deadline)
            {
                foreground.Kill();
                var sofar = await foreground.WaitAsync(TimeSpan.FromSeconds(5));
                Assert.Fail($"the guest did not print \"{text}\" within {timeout.TotalSeconds:F0} s: " +
                            sofar.Describe() + "\n" + fixture.LogTail());
            }

            await Task.Delay(20);
        }
    }
}
