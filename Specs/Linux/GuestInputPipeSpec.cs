using System.Diagnostics;
using WasmKata.Linux;
using WasmKata.Linux.Io;
using Xunit;

namespace WasmKata.Specs.Linux;

public sealed class GuestInputPipeSpec
{
    [Fact]
    public async Task A_blocked_reader_of_the_read_end_path_must_see_eof_within_50ms_of_writer_dispose()
    {
        using var pipe = new GuestInputPipe();
        using var engineSide = new FileStream(pipe.ReadEndPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, bufferSize: 0);
        pipe.ReleaseReadEnd();

        await pipe.Writer.WriteAsync("a"u8.ToArray()).Within();
        var firstByte = new byte[1];
        Assert.Equal(1, await Task.Factory.StartNew(() => engineSide.Read(firstByte), TaskCreationOptions.LongRunning).Within());

        long returnedAt = 0;
        var blockedRead = Task.Factory.StartNew(
            () =>
            {
                var n = engineSide.Read(new byte[16]);
                returnedAt = Stopwatch.GetTimestamp();
                return n;
            },
            TaskCreationOptions.LongRunning);
        Assert.True(await Await.StillPendingAfter(blockedRead, TimeSpan.FromMilliseconds(100)));

        var disposedAt = Stopwatch.GetTimestamp();
        pipe.Writer.Dispose();

        Assert.Equal(0, await blockedRead.Within());
        Assert.InRange(Stopwatch.GetElapsedTime(disposedAt, returnedAt), TimeSpan.Zero, TimeSpan.FromMilliseconds(50));
    }

    [Fact]
    public async Task Writes_must_arrive_at_a_reader_of_the_read_end_path()
    {
        using var pipe = new GuestInputPipe();
        using var engineSide = new FileStream(pipe.ReadEndPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, bufferSize: 0);
        pipe.ReleaseReadEnd();

        var payload = new byte[256 << 10];
        Random.Shared.NextBytes(payload);
        var write = pipe.Writer.WriteAsync(payload).AsTask();
        var received = new MemoryStream();
        var copy = Task.Factory.StartNew(() => engineSide.CopyTo(received), TaskCreationOptions.LongRunning);

        await write.Within();
        pipe.Writer.Dispose();
        await copy.Within();
        Assert.Equal(payload, received.ToArray());
    }

    [Fact]
    public async Task The_writer_must_get_BrokenPipeException_once_the_engine_closed_and_the_read_end_was_released()
    {
        using var pipe = new GuestInputPipe();
        new FileStream(pipe.ReadEndPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, bufferSize: 0).Dispose();
        await pipe.Writer.WriteAsync("still ours"u8.ToArray()).Within();

        pipe.ReleaseReadEnd();
        await Assert.ThrowsAsync<BrokenPipeException>(() => pipe.Writer.WriteAsync("gone"u8.ToArray()).Within());
    }

    [Fact]
    public async Task Opening_the_read_end_after_the_writer_was_disposed_must_not_block_and_must_then_see_eof()
    {
        using var pipe = new GuestInputPipe();
        pipe.Writer.Dispose();

        var engineSide = await Task.Factory.StartNew(
            () => new FileStream(pipe.ReadEndPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, bufferSize: 0),
            TaskCreationOptions.LongRunning).Within(TimeSpan.FromSeconds(5));
        using (engineSide)
        {
            pipe.ReleaseReadEnd();
            Assert.Equal(0, await Task.Factory.StartNew(() => engineSide.Read(new byte[8]), TaskCreationOptions.LongRunning).Within());
        }
    }

    [Fact]
    public async Task The_engine_must_not_see_eof_before_the_read_end_is_released()
    {
        using var pipe = new GuestInputPipe();
        using var engineSide = new FileStream(pipe.ReadEndPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, bufferSize: 0);
        pipe.Writer.Dispose();

        var read = Task.Factory.StartNew(() => engineSide.Read(new byte[8]), TaskCreationOptions.LongRunning);
        Assert.True(await Await.StillPendingAfter(read, TimeSpan.FromMilliseconds(100)));
        pipe.ReleaseReadEnd();
        Assert.Equal(0, await read.Within());
    }
}
