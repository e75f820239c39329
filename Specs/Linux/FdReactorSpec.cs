using WasmKata.Linux.Io;
using Xunit;

namespace WasmKata.Specs.Linux;

public sealed class FdReactorSpec
{
    [Fact]
    public async Task Two_hundred_pending_reads_must_share_one_reactor_thread()
    {
        const int count = 200;
        await FdReactor.Instance.ThreadId.Within();
        var threadsBefore = Directory.GetDirectories("/proc/self/task").Length;

        var pipes = Enumerable.Range(0, count).Select(_ => Pipes.CreateAsyncPipe()).ToList();
        try
        {
            var buffers = pipes.Select(_ => new byte[1]).ToList();
            var reads = pipes.Select((p, i) => p.Reader.ReadAsync(buffers[i]).AsTask()).ToList();
            Assert.True(await Await.StillPendingAfter(Task.WhenAny(reads), TimeSpan.FromMilliseconds(200)));

            var threadsWhilePending = Directory.GetDirectories("/proc/self/task").Length;
            var reactorThreads = Directory.GetDirectories("/proc/self/task").Count(task => CommOf(task) == FdReactor.ThreadName);

            // A thread per read would add 200; the slack absorbs thread-pool growth from specs running alongside.
            Assert.InRange(threadsWhilePending - threadsBefore, int.MinValue, 60);
            Assert.Equal(1, reactorThreads);

            for (var i = 0; i < count; i++)
                await pipes[i].Writer.WriteAsync(new[] { (byte)i }).Within();

            var results = await Task.WhenAll(reads).Within();
            Assert.All(results, n => Assert.Equal(1, n));
            Assert.Equal(Enumerable.Range(0, count).Select(i => (byte)i), buffers.Select(b => b[0]));
        }
        finally
        {
            foreach (var (reader, writer) in pipes)
            {
                reader.Dispose();
                writer.Dispose();
            }
        }
    }

    private static string? CommOf(string taskDirectory)
    {
        try
        {
            return File.ReadAllText(Path.Combine(taskDirectory, "comm")).Trim();
        }
        catch (IOException)
        {
            return null; // the thread exited after the listing
        }
    }

    [Fact]
    public async Task The_reactor_thread_must_report_its_kernel_thread_id()
    {
        var tid = await FdReactor.Instance.ThreadId.Within();
        Assert.Equal(FdReactor.ThreadName, (await File.ReadAllTextAsync($"/proc/self/task/{tid}/comm")).Trim());
    }
}
