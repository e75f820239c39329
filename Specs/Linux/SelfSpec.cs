using System.Diagnostics;
using WasmKata.Linux;
using Xunit;

namespace WasmKata.Specs.Linux;

public sealed class SelfSpec
{
    [Fact]
    public void GetThreadId_must_be_the_kernel_id_of_the_calling_thread()
    {
        var threadSelf = new FileInfo("/proc/thread-self").LinkTarget;
        Assert.Equal($"{Self.Pid}/task/{Self.GetThreadId()}", threadSelf);
        Assert.Equal(Environment.ProcessId, Self.Pid);
    }

    [Fact]
    public async Task ThreadCpuTimeNs_must_count_the_cpu_a_thread_burned()
    {
        const long target = 150_000_000;
        var started = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var finish = new TaskCompletionSource();
        var thread = new Thread(() =>
        {
            var tid = Self.GetThreadId();
            started.SetResult(tid);
            var wall = Stopwatch.StartNew();
            while (Self.ThreadCpuTimeNs(tid) < target && wall.Elapsed < Await.Long)
                Thread.SpinWait(10_000);

            finish.Task.Wait();
        });
        thread.Start();
        var tid = await started.Task.Within();
        var initial = Self.ThreadCpuTimeNs(tid);

        var spun = Stopwatch.StartNew();
        long now;
        while ((now = Self.ThreadCpuTimeNs(tid)) < target && spun.Elapsed < Await.Long)
            await Task.Delay(20);

        // An independent reader of the same counter: ProcessThread parses /proc/<pid>/task/<tid>/stat itself.
        var independent = System.Diagnostics.Process.GetCurrentProcess().Threads.Cast<ProcessThread>().Single(t => t.Id == tid).TotalProcessorTime;
        finish.SetResult();
        thread.Join();

        Assert.InRange(initial, 0, target / 2);
        Assert.InRange(now, target, target + 1_000_000_000);
        Assert.InRange(independent.Ticks * 100 - now, -50_000_000L, 50_000_000L);
    }

    [Fact]
    public void ThreadCpuTimeNs_must_refuse_a_thread_of_another_process()
    {
        Assert.Throws<ArgumentException>(() => Self.ThreadCpuTimeNs(1));
    }

    [Fact]
    public void ResidentSetBytes_must_be_close_to_the_runtime_working_set()
    {
        var rss = Self.ResidentSetBytes();
        var workingSet = Environment.WorkingSet;
        Assert.InRange(rss, workingSet / 2, workingSet * 2);
    }

    [Fact]
    public void The_runtime_must_ignore_sigpipe()
    {
        Assert.True(Self.IsSigPipeIgnored());
    }

    [Fact]
    [Trait("Requires", "root")]
    public void SetChildSubreaper_must_take_effect()
    {
        Self.SetChildSubreaper();
        Assert.True(Self.IsChildSubreaper);
    }
}
