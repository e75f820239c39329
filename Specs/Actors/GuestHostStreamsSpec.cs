using System.Text;
using WasmKata.Actors.Io;
using WasmKata.Actors.WasmProcess;
using WasmKata.Linux;
using WasmKata.Linux.Io;
using Xunit;

namespace WasmKata.Specs.Actors;

/// <summary>
/// The daemon's side of a guest host's pipes on real pipes: a copy that finds the output buffer full stops reading,
/// so the pipe fills and the writer blocks; everything arrives byte-exact once the pump reads; report lines are bounded.
/// </summary>
public sealed class GuestHostStreamsSpec
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task WriteAsync_must_wait_for_room_and_return_once_aborted()
    {
        var buffer = new OutputBuffer(capacity: 4);
        await buffer.WriteAsync("abcd"u8.ToArray());
        var waiting = buffer.WriteAsync("efgh"u8.ToArray()).AsTask();
        await Task.Delay(50);
        Assert.False(waiting.IsCompleted, "a write into a full buffer must wait for room");

        Assert.Equal("abcd", Encoding.ASCII.GetString((await buffer.ReadAsync())!.Value.Span));
        await waiting.WaitAsync(Patience);
        var blocked = buffer.WriteAsync("ijkl"u8.ToArray()).AsTask();
        buffer.Abort();
        await blocked.WaitAsync(Patience);

        Assert.Equal("efgh", Encoding.ASCII.GetString((await buffer.ReadAsync())!.Value.Span));
        Assert.Null(await buffer.ReadAsync());
    }

    [Fact]
    public async Task A_full_buffer_must_stop_the_reads_so_the_guests_write_blocks_and_then_deliver_every_byte()
    {
        const int total = 1 << 20;
        var data = new byte[total];
        new Random(19).NextBytes(data);
        var buffer = new OutputBuffer(capacity: 16 * 1024);
        var (read, write) = Pipes.CreateRaw();
        var reader = new AsyncFd(read, "stdout stand-in");
        using var writer = new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(Take(write), ownsHandle: true), FileAccess.Write, bufferSize: 0);
        var copy = GuestHostStreams.CopyAsync(reader, buffer);
        var guest = Task.Factory.StartNew(() =>
        {
            writer.Write(data);
            writer.Dispose();
        }, TaskCreationOptions.LongRunning);

        // Nobody reads the buffer: the copy must hold back, the pipe fill up and the writer stay blocked.
        await Task.Delay(500);
        Assert.False(guest.IsCompleted, "the guest's write must block while the pump holds back");
        Assert.True(buffer.BufferedBytes <= buffer.Capacity, $"{buffer.BufferedBytes} bytes buffered, capacity {buffer.Capacity}");

        var received = new MemoryStream();
        var drain = Task.Run(async () =>
        {
            while (await buffer.ReadAsync() is { } chunk)
                received.Write(chunk.Span);
        });
        await guest.WaitAsync(Patience);
        await copy.WaitAsync(Patience);
        buffer.Complete();
        await drain.WaitAsync(Patience);
        reader.Dispose();

        Assert.True(received.ToArray().AsSpan().SequenceEqual(data), $"{received.Length} of {total} bytes arrived, or not in order");
    }

    [Fact]
    public async Task Report_lines_must_be_split_and_an_overlong_one_cut_and_flagged()
    {
        var (read, write) = Pipes.CreateRaw();
        using var reader = new AsyncFd(read, "report stand-in");
        using (var writer = new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(Take(write), ownsHandle: true), FileAccess.Write, bufferSize: 0))
        {
            writer.Write(Encoding.ASCII.GetBytes("ready core\nexit 3\n" + new string('x', 10_000) + "\ntail"));
        }
        var lines = new GuestHostStreams.LineReader(reader);

        Assert.Equal(("ready core", false), await lines.ReadLineAsync());
        Assert.Equal(("exit 3", false), await lines.ReadLineAsync());
        var (junk, tooLong) = await lines.ReadLineAsync();
        Assert.True(tooLong);
        Assert.Equal(GuestHostStreams.MaxReportLine, junk!.Length);
    }

    private static nint Take(SafeFdHandle handle)
    {
        var fd = handle.DangerousFd;
        handle.SetHandleAsInvalid();
        return fd;
    }
}
