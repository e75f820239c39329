using System.Diagnostics;
using WasmKata.Actors.Io;
using Xunit;

namespace WasmKata.Specs.Engine;

public sealed class OutputBufferSpec
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Bytes_must_arrive_in_order_and_coalesced()
    {
        var buffer = new OutputBuffer();
        var writer = new Thread(() =>
        {
            for (var i = 0; i < 10_000; i++)
                buffer.Write([(byte)i, (byte)(i >> 8)]);
            buffer.Complete();
        });
        writer.Start();

        var all = new MemoryStream();
        var reads = 0;
        while (await buffer.ReadAsync() is { } chunk)
        {
            all.Write(chunk.Span);
            reads++;
        }
        Assert.True(writer.Join(Patience));
        var bytes = all.ToArray();
        Assert.Equal(20_000, bytes.Length);
        for (var i = 0; i < 10_000; i++)
            Assert.Equal((ushort)i, (ushort)(bytes[2 * i] | (bytes[2 * i + 1] << 8)));
        Assert.True(reads <= 10_000);
    }

    [Fact]
    public async Task Small_writes_must_come_out_as_one_chunk_when_the_reader_is_slower()
    {
        var buffer = new OutputBuffer();
        for (var i = 0; i < 1000; i++)
            buffer.Write("x"u8);
        buffer.Complete();
        var chunk = await buffer.ReadAsync();
        Assert.Equal(1000, chunk!.Value.Length);
        Assert.Null(await buffer.ReadAsync());
    }

    [Fact]
    public async Task Read_must_return_null_after_complete_and_drain()
    {
        var buffer = new OutputBuffer();
        var pending = buffer.ReadAsync();
        Assert.False(pending.IsCompleted);
        buffer.Write("tail"u8);
        Assert.Equal("tail"u8.ToArray(), (await pending)!.Value.ToArray());
        buffer.Complete();
        Assert.Null(await buffer.ReadAsync());
        Assert.Null(await buffer.ReadAsync());
    }

    [Fact]
    public async Task A_pending_read_must_end_with_null_on_complete()
    {
        var buffer = new OutputBuffer();
        var pending = buffer.ReadAsync();
        buffer.Complete();
        Assert.Null(await pending);
    }

    [Fact]
    public async Task Abort_must_keep_buffered_data_readable_and_drop_later_writes()
    {
        var buffer = new OutputBuffer();
        buffer.Write("before kill"u8);
        buffer.Abort();
        buffer.Write("after kill"u8);
        Assert.Equal("before kill"u8.ToArray(), (await buffer.ReadAsync())!.Value.ToArray());
        Assert.Null(await buffer.ReadAsync());
    }

    [Fact]
    public async Task Backpressure_must_block_the_writer_until_the_reader_catches_up()
    {
        var buffer = new OutputBuffer(1024);
        using var wrote = new ManualResetEventSlim();
        var writer = new Thread(() =>
        {
            buffer.Write(new byte[3000]);
            wrote.Set();
        });
        writer.Start();

        Assert.True(SpinWait.SpinUntil(() => buffer.BufferedBytes == 1024, Patience));
        Assert.False(wrote.Wait(50));
        long read = 0;
        while (read < 3000)
            read += (await buffer.ReadAsync())!.Value.Length;
        Assert.True(wrote.Wait(Patience));
        Assert.Equal(3000, read);
        Assert.True(writer.Join(Patience));
    }

    [Fact]
    public void Abort_must_unblock_a_blocked_writer()
    {
        var buffer = new OutputBuffer(16);
        var writer = new Thread(() => buffer.Write(new byte[1000]));
        writer.Start();
        Assert.True(SpinWait.SpinUntil(() => buffer.BufferedBytes == 16, Patience));
        Assert.True(writer.IsAlive);
        buffer.Abort();
        Assert.True(writer.Join(Patience));
    }

    [Fact]
    public async Task Cancelling_a_read_must_lose_nothing()
    {
        var buffer = new OutputBuffer();
        using var cts = new CancellationTokenSource();
        var pending = buffer.ReadAsync(cts.Token);
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await pending);
        buffer.Write("kept"u8);
        Assert.Equal("kept"u8.ToArray(), (await buffer.ReadAsync())!.Value.ToArray());
    }

    [Fact]
    public void Write_after_complete_must_be_refused()
    {
        var buffer = new OutputBuffer();
        buffer.Complete();
        Assert.Throws<InvalidOperationException>(() => buffer.Write("late"u8));
    }

    [Fact]
    public async Task Sixty_four_MiB_in_4_KiB_writes_must_pass_well_under_a_second()
    {
        const int writes = 16384;
        var buffer = new OutputBuffer();
        var block = new byte[4096];
        var clock = Stopwatch.StartNew();
        var writer = new Thread(() =>
        {
            for (var i = 0; i < writes; i++)
                buffer.Write(block);
            buffer.Complete();
        });
        writer.Start();
        long total = 0;
        while (await buffer.ReadAsync() is { } chunk)
            total += chunk.Length;
        clock.Stop();
        Assert.True(writer.Join(Patience));
        Assert.Equal(writes * 4096L, total);
        Assert.InRange(clock.ElapsedMilliseconds, 0, 1000);
    }
}
