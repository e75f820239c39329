using System.Diagnostics;
using System.Globalization;

namespace WasmKata.Specs.Engine;

/// <summary>How a thread spent a window of wall time, as shares of it.</summary>
/// <param name="Run">On a CPU (schedstat).</param>
/// <param name="Waiting">
/// Runnable but waiting for a CPU (schedstat). The kernel books a wait only when it ends, so a wait still going on when the
/// window closes is missing: on a loaded machine Run + Waiting can fall well short of a thread that never slept.
/// </param>
/// <param name="Runnable">
/// Share of samples of the thread's state (/proc, every 2 ms) that found it running or ready to (R): unlike schedstat,
/// this does not depend on when waits are booked, so it tells a thread that never rests from one that sleeps.
/// </param>
/// <param name="GcPause">Share of the window this process spent paused for the garbage collector.</param>
internal readonly record struct ThreadTimes(double Run, double Waiting, double Runnable, double GcPause)
{
    private const int MinimumSamples = 10;

    public static async Task<ThreadTimes[]> Over(TimeSpan window, params int[] tids)
    {
        var start = tids.Select(Read).ToArray();
        var gcStart = GC.GetTotalPauseDuration();
        var wall = Stopwatch.StartNew();
        var runnable = new int[tids.Length];
        var samples = await Task.Factory.StartNew(() =>
        {
            var taken = 0;
            while (wall.Elapsed < window)
            {
                for (var i = 0; i < tids.Length; i++)
                    runnable[i] += State(tids[i]) == 'R' ? 1 : 0;
                taken++;
                Thread.Sleep(2);
            }
            return taken;
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        var end = tids.Select(Read).ToArray();
        var gc = (GC.GetTotalPauseDuration() - gcStart).TotalMilliseconds;
        var ms = wall.Elapsed.TotalMilliseconds;
        if (samples < MinimumSamples)
            throw new InvalidOperationException($"only {samples} samples of the thread states in {ms:0} ms");
        return start.Select((s, i) => new ThreadTimes(
            (end[i].Run - s.Run) / (ms * 1e6), (end[i].Wait - s.Wait) / (ms * 1e6), (double)runnable[i] / samples, gc / ms)).ToArray();
    }

    public override string ToString() =>
        FormattableString.Invariant($"run {Run:0.000}, waiting {Waiting:0.000}, runnable {Runnable:0.000}, gc {GcPause:0.000}");

    /// <summary>The one-letter state of a thread of this process (R running or runnable, S sleeping, ...).</summary>
    public static char State(int tid)
    {
        var stat = File.ReadAllText($"/proc/self/task/{tid}/stat");
        return stat[stat.LastIndexOf(')') + 2];
    }

    private static (long Run, long Wait) Read(int tid)
    {
        var fields = File.ReadAllText($"/proc/self/task/{tid}/schedstat").Split(' ');
        return (long.Parse(fields[0], CultureInfo.InvariantCulture), long.Parse(fields[1], CultureInfo.InvariantCulture));
    }
}
