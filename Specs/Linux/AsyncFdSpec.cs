using System.Security.Cryptography;
using WasmKata.Linux;
using WasmKata.Linux.Io;
using Xunit;

namespace WasmKata.Specs.Linux;

public sealed class AsyncFdSpec
{
    [Fact]
    public async Task Read_must_return_the_bytes_written_into_a_pipe()
    {
        var (reader, writer) = Pipes.CreateAsyncPipe();
        using (reader)
        using (writer)
        {
            await writer.WriteAsync("hello"u8.ToArray()).Within();
            var buffer = new byte[16];
            var n = await reader.ReadAsync(buffer).Within();
            Assert.Equal("hello", System.Text.Encoding.ASCII.GetString(buffer, 0, n));
        }
    }

    [Fact]
    public async Task Read_must_wait_for_data_and_complete_when_it_arrives()
    {
        var (reader, writer) = Pipes.CreateAsyncPipe();
        using (reader)
        using (writer)
        {
            var buffer = new byte[16];
            var read = reader.ReadAsync(buffer).AsTask();
            Assert.True(await Await.StillPendingAfter(read, TimeSpan.FromMilliseconds(100)));

            await writer.WriteAsync(new byte[] { 42 }).Within();
            Assert.Equal(1, await read.Within());
            Assert.Equal(42, buffer[0]);
        }
    }

    [Fact]
    public async Task Read_must_return_zero_once_the_pipe_writer_is_closed()
    {
        var (reader, writer) = Pipes.CreateAsyncPipe();
        using (reader)
        {
            var read = reader.ReadAsync(new byte[16]).AsTask();
            writer.Dispose();
            Assert.Equal(0, await read.Within());
        }
    }

    [Fact]
    public async Task Eight_MiB_must_cross_a_socketpair_intact()
    {
        var (left, right) = Pipes.CreateAsyncSocketPair();
        using (left)
        using (right)
        {
            var data = RandomNumberGenerator.GetBytes(8 << 20);
            var write = left.WriteAsync(data).AsTask();
            var received = await Await.ReadExactly(right, data.Length);
            await write.Within();
            Assert.Equal(SHA256.HashData(data), SHA256.HashData(received));
        }
    }

    [Fact]
    public async Task Write_must_wait_under_backpressure_until_the_reader_drains()
    {
        var (reader, writer) = Pipes.CreateAsyncPipe();
        using (reader)
        using (writer)
        {
            // Far more than the 64 KiB default pipe buffer, so the write must park on EAGAIN.
            var data = RandomNumberGenerator.GetBytes(1 << 20);
            var write = writer.WriteAsync(data).AsTask();
            Assert.True(await Await.StillPendingAfter(write, TimeSpan.FromMilliseconds(150)));

            var received = await Await.ReadExactly(reader, data.Length);
            await write.Within();
            Assert.Equal(data, received);
        }
    }

    [Fact]
    public async Task Socket_read_must_see_eof_when_the_peer_closes()
    {
        var (left, right) = Pipes.CreateAsyncSocketPair();
        using (right)
        {
            var read = right.ReadAsync(new byte[8]).AsTask();
            left.Dispose();
            Assert.Equal(0, await read.Within());
        }
    }

    [Fact]
    public async Task A_pending_read_and_a_pending_write_on_one_socket_must_both_complete()
    {
        var (left, right) = Pipes.CreateAsyncSocketPair();
        using (left)
        using (right)
        {
            var readBuffer = new byte[4];
            var read = left.ReadAsync(readBuffer).AsTask();
            var data = RandomNumberGenerator.GetBytes(4 << 20);
            var write = left.WriteAsync(data).AsTask();
            Assert.True(await Await.StillPendingAfter(write, TimeSpan.FromMilliseconds(100)));
            Assert.False(read.IsCompleted);

            var received = await Await.ReadExactly(right, data.Length);
            await write.Within();
            Assert.Equal(data, received);
            Assert.False(read.IsCompleted);

            await right.WriteAsync(new byte[] { 7 }).Within();
            Assert.Equal(1, await read.Within());
            Assert.Equal(7, readBuffer[0]);
        }
    }

    [Fact]
    public async Task Cancellation_must_end_a_pending_read_and_leave_the_fd_usable()
    {
        var (reader, writer) = Pipes.CreateAsyncPipe();
        using (reader)
        using (writer)
        {
            using var cts = new CancellationTokenSource();
            var read = reader.ReadAsync(new byte[8], cts.Token).AsTask();
            Assert.True(await Await.StillPendingAfter(read, TimeSpan.FromMilliseconds(50)));
            await cts.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => read.Within());

            await writer.WriteAsync(new byte[] { 9 }).Within();
            var buffer = new byte[8];
            Assert.Equal(1, await reader.ReadAsync(buffer).Within());
            Assert.Equal(9, buffer[0]);
        }
    }

    [Fact]
    public async Task Cancellation_must_end_a_write_blocked_by_backpressure()
    {
        var (reader, writer) = Pipes.CreateAsyncPipe();
        using (reader)
        using (writer)
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => writer.WriteAsync(new byte[1 << 20], cts.Token).Within());
        }
    }

    [Fact]
    public async Task Dispose_during_a_pending_read_must_fail_it_with_ObjectDisposedException()
    {
        var (reader, writer) = Pipes.CreateAsyncPipe();
        using (writer)
        {
            var read = reader.ReadAsync(new byte[8]).AsTask();
            Assert.True(await Await.StillPendingAfter(read, TimeSpan.FromMilliseconds(50)));
            reader.Dispose();
            await Assert.ThrowsAsync<ObjectDisposedException>(() => read.Within());
            await Assert.ThrowsAsync<ObjectDisposedException>(() => reader.ReadAsync(new byte[8]).Within());
        }
    }

    [Fact]
    public async Task A_read_pending_at_dispose_must_never_consume_data_of_a_fd_that_reuses_the_number()
    {
        for (var round = 0; round < 50; round++)
        {
            var (oldReader, oldWriter) = Pipes.CreateAsyncPipe();
            var stale = oldReader.ReadAsync(new byte[8]).AsTask();
            oldReader.Dispose();

            // The kernel hands out the lowest free number, so this pipe typically reuses the old read end's fd.
            var (reader, writer) = Pipes.CreateAsyncPipe();
            using (oldWriter)
            using (reader)
            using (writer)
            {
                await writer.WriteAsync("fresh"u8.ToArray()).Within();
                await Assert.ThrowsAsync<ObjectDisposedException>(() => stale.Within());
                Assert.Equal("fresh"u8.ToArray(), await Await.ReadExactly(reader, 5));
            }
        }
    }

    [Fact]
    public async Task Dispose_racing_with_a_read_must_only_ever_surface_ObjectDisposedException()
    {
        for (var round = 0; round < 200; round++)
        {
            var (reader, writer) = Pipes.CreateAsyncPipe();
            using (writer)
            {
                var read = Task.Run(async () => await reader.ReadAsync(new byte[8]));
                var write = Task.Run(async () => await writer.WriteAsync(new byte[] { 1 }));
                await Task.Run(reader.Dispose).Within();
                try
                {
                    await write.Within();
                }
                catch (BrokenPipeException)
                {
                    // The read end may already be gone; that is the writer's legitimate answer.
                }

                try
                {
                    Assert.Equal(1, await read.Within());
                }
                catch (ObjectDisposedException)
                {
                }
            }
        }
    }

    [Fact]
    public async Task Write_into_a_pipe_without_readers_must_throw_BrokenPipeException()
    {
        var (reader, writer) = Pipes.CreateAsyncPipe();
        reader.Dispose();
        using (writer)
        {
            var e = await Assert.ThrowsAsync<BrokenPipeException>(() => writer.WriteAsync(new byte[] { 1 }).Within());
            Assert.IsAssignableFrom<IOException>(e);
            Assert.Equal(32, e.Errno);
        }
    }

    [Fact]
    public async Task A_second_concurrent_read_must_be_rejected()
    {
        var (reader, writer) = Pipes.CreateAsyncPipe();
        using (reader)
        using (writer)
        {
            var first = reader.ReadAsync(new byte[8]).AsTask();
            await Assert.ThrowsAsync<InvalidOperationException>(() => reader.ReadAsync(new byte[8]).Within());
            await writer.WriteAsync(new byte[] { 1 }).Within();
            Assert.Equal(1, await first.Within());
        }
    }

    [Fact]
    public async Task A_regular_file_must_be_treated_as_always_ready()
    {
        using var dir = new TempDirectory();
        var path = dir.Sub("plain");
        await File.WriteAllBytesAsync(path, "abc"u8.ToArray());
        var fd = Interop.Open(path, Interop.O_RDWR | Interop.O_CLOEXEC, 0);
        Assert.False(fd.IsInvalid);
        using var file = new AsyncFd(fd, path);

        Assert.False(file.IsPollable);
        Assert.Equal("abc"u8.ToArray(), await Await.ReadExactly(file, 3));
        Assert.Equal(0, await file.ReadAsync(new byte[4]).Within());
        await file.WriteAsync("def"u8.ToArray()).Within();
        Assert.Equal("abcdef", await File.ReadAllTextAsync(path));
    }
}
