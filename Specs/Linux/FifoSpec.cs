using System.Security.Cryptography;
using WasmKata.Linux;
using WasmKata.Linux.Io;
using Xunit;

namespace WasmKata.Specs.Linux;

public sealed class FifoSpec : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly string _path;

    public FifoSpec()
    {
        _path = _dir.Sub("fifo");
        Fifo.Create(_path);
    }

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Create_must_make_a_fifo_with_mode_0600()
    {
        Assert.Equal(WasmKata.Linux.Interop.S_IFIFO, WasmKata.Linux.Interop.FileType(_path));
        Assert.Equal(0x180, WasmKata.Linux.Interop.StatMode(_path) & 0xFFF);
    }

    [Fact]
    public async Task Writer_without_a_reader_must_open_and_its_data_must_reach_a_later_reader()
    {
        using var writer = Fifo.OpenWriter(_path);
        await writer.WriteAsync("early"u8.ToArray()).Within();

        using var reader = Fifo.OpenReader(_path);
        Assert.Equal("early"u8.ToArray(), await Await.ReadExactly(reader, 5));
    }

    [Fact]
    public async Task Writer_with_a_reader_must_get_BrokenPipeException_once_the_reader_leaves()
    {
        var reader = Fifo.OpenReader(_path);
        using var writer = Fifo.OpenWriter(_path);
        await writer.WriteAsync("x"u8.ToArray()).Within();
        reader.Dispose();

        await Assert.ThrowsAsync<BrokenPipeException>(() => writer.WriteAsync("y"u8.ToArray()).Within());
    }

    [Fact]
    public async Task PipeBacklog_must_count_unread_bytes_and_see_the_reader_leave()
    {
        var reader = Fifo.OpenReader(_path);
        using var writer = Fifo.OpenWriter(_path);
        Assert.Equal((0, true), writer.PipeBacklog());

        await writer.WriteAsync(new byte[5000]).Within();
        Assert.Equal((5000, true), writer.PipeBacklog());
        await Await.ReadExactly(reader, 3000);
        Assert.Equal((2000, true), writer.PipeBacklog());

        reader.Dispose();
        Assert.False(writer.PipeBacklog().HasReader);
        writer.Dispose();
        Assert.Equal((0, false), writer.PipeBacklog());
    }

    [Fact]
    public async Task Reader_must_not_see_eof_before_a_writer_connects()
    {
        using var reader = Fifo.OpenReader(_path);
        var buffer = new byte[16];
        var read = reader.ReadAsync(buffer).AsTask();

        Assert.True(await Await.StillPendingAfter(read, TimeSpan.FromMilliseconds(300)));

        // Waiting is parked in epoll: one read(2) saw 0, then nothing until the writer shows up.
        Assert.InRange(reader.ReadSyscalls, 1, 2);

        using var writer = Fifo.OpenWriter(_path);
        await writer.WriteAsync("hi"u8.ToArray()).Within();
        Assert.Equal(2, await read.Within());
        Assert.Equal("hi"u8.ToArray(), buffer[..2]);
    }

    [Fact]
    public async Task Reader_must_see_eof_after_the_writer_closes()
    {
        using var reader = Fifo.OpenReader(_path);
        using (var writer = Fifo.OpenWriter(_path))
        {
            await writer.WriteAsync("bye"u8.ToArray()).Within();
        }

        Assert.Equal("bye"u8.ToArray(), await Await.ReadExactly(reader, 3));
        Assert.Equal(0, await reader.ReadAsync(new byte[8]).Within());
    }

    [Fact]
    public async Task Reader_must_see_eof_when_a_writer_connects_and_leaves_without_writing()
    {
        using var reader = Fifo.OpenReader(_path);
        var read = reader.ReadAsync(new byte[8]).AsTask();
        Assert.True(await Await.StillPendingAfter(read, TimeSpan.FromMilliseconds(50)));

        Fifo.OpenWriter(_path).Dispose();
        Assert.Equal(0, await read.Within());
    }

    [Fact]
    public async Task Reader_must_see_eof_when_the_writer_came_and_went_before_the_first_read()
    {
        using var reader = Fifo.OpenReader(_path);
        using (var writer = Fifo.OpenWriter(_path))
        {
            await writer.WriteAsync("z"u8.ToArray()).Within();
        }

        var buffer = new byte[8];
        Assert.Equal(1, await reader.ReadAsync(buffer).Within());
        Assert.Equal(0, await reader.ReadAsync(buffer).Within());
    }

    [Fact]
    public async Task Sixty_four_MiB_must_pass_through_a_fifo_intact()
    {
        var data = RandomNumberGenerator.GetBytes(64 << 20);
        using var reader = Fifo.OpenReader(_path);
        using var writer = Fifo.OpenWriter(_path);

        var write = Task.Run(async () =>
        {
            // Chunked like a stdio copy loop; each chunk is far larger than the pipe buffer.
            for (var offset = 0; offset < data.Length; offset += 1 << 20)
                await writer.WriteAsync(data.AsMemory(offset, 1 << 20));

            writer.Dispose();
        });

        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[128 << 10];
        long total = 0;
        while (true)
        {
            var n = await reader.ReadAsync(buffer).Within(TimeSpan.FromSeconds(30));
            if (n == 0)
                break;

            hash.AppendData(buffer, 0, n);
            total += n;
        }

        await write.Within();
        Assert.Equal(data.Length, total);
        Assert.Equal(SHA256.HashData(data), hash.GetHashAndReset());
    }

    [Fact]
    public void Opening_a_missing_path_must_throw_FileNotFoundException_naming_it()
    {
        var missing = _dir.Sub("nope");
        var forRead = Assert.Throws<FileNotFoundException>(() => Fifo.OpenReader(missing));
        var forWrite = Assert.Throws<FileNotFoundException>(() => Fifo.OpenWriter(missing));
        Assert.Equal(missing, forRead.FileName);
        Assert.Contains(missing, forWrite.Message, StringComparison.Ordinal);
    }
}
