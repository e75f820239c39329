using System.Text;
using Akka.Actor;
using Akka.TestKit.Xunit2;
using WasmKata.Actors.Io;
using WasmKata.Linux.Io;
using Xunit;

namespace WasmKata.Specs.Actors;

public sealed class PumpSpec : TestKit, IDisposable
{
    private static readonly TimeSpan Long = TimeSpan.FromSeconds(10);
    private readonly string _dir = Directory.CreateTempSubdirectory("wk-pump-").FullName;

    void IDisposable.Dispose()
    {
        Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task Output_must_reach_its_file_in_order_and_report_drained_after_complete()
    {
        var buffer = new OutputBuffer(4096);
        var file = Path.Combine(_dir, "out.log");
        ChildActorOf(PumpProtocol.Output(buffer, "file://" + file, "stdout"));
        var expected = new StringBuilder();
        var writer = Task.Run(() =>
        {
            for (var i = 0; i < 2000; i++)
            {
                var line = $"line {i}\n";
                expected.Append(line);
                buffer.Write(Encoding.ASCII.GetBytes(line));
            }
            buffer.Complete();
        });
        await writer;
        var drained = await ExpectMsgAsync<PumpProtocol.PumpDrained>(Long);
        Assert.Equal("stdout", drained.Stream);
        Assert.Equal(expected.Length, drained.Bytes);
        Assert.Equal(expected.ToString(), await File.ReadAllTextAsync(file));
    }

    [Fact]
    public async Task A_reader_that_goes_away_must_not_wedge_the_writer()
    {
        var fifo = Path.Combine(_dir, "stdout");
        Fifo.Create(fifo);
        using var reader = Fifo.OpenReader(fifo);
        var buffer = new OutputBuffer(64 * 1024);
        ChildActorOf(PumpProtocol.Output(buffer, fifo, "stdout"));
        var chunk = new byte[32 * 1024];
        var first = new byte[1024];
        buffer.Write(chunk);
        Assert.True(await reader.ReadAsync(first) > 0);
        reader.Dispose();
        // 8 MiB more than any pipe or buffer holds: only possible if the pump discards after the reader left.
        var writer = Task.Run(() =>
        {
            for (var i = 0; i < 256; i++)
                buffer.Write(chunk);
            buffer.Complete();
        });
        await writer.WaitAsync(Long);
        await ExpectMsgAsync<PumpProtocol.ReaderGone>(Long);
        await ExpectMsgAsync<PumpProtocol.PumpDrained>(Long);
    }

    [Fact]
    public async Task Drained_must_wait_until_the_reader_took_every_byte_out_of_the_fifo()
    {
        // ctr 1.6 closes its FIFO as soon as it learns of the exit and drops what is still in the pipe: an exit that
        // went up on "written" rather than "read" lost the last 1 MiB of a 64 MiB stdout once.
        var fifo = Path.Combine(_dir, "unread");
        Fifo.Create(fifo);
        using var reader = Fifo.OpenReader(fifo);
        var buffer = new OutputBuffer(64 * 1024);
        ChildActorOf(PumpProtocol.Output(buffer, fifo, "stdout"));
        var data = new byte[200 * 1024];
        new Random(7).NextBytes(data);
        await Task.Run(() =>
        {
            buffer.Write(data);
            buffer.Complete();
        }).WaitAsync(Long);

        // Everything is in the FIFO (widened to 1 MiB) and nothing is read.
        await AwaitAssertAsync(() => Assert.Equal(data.Length, reader.PipeBacklog().Unread), Long);
        await ExpectNoMsgAsync(TimeSpan.FromMilliseconds(300));

        var received = new MemoryStream();
        var chunk = new byte[16 * 1024];
        while (received.Length < data.Length)
        {
            var n = await reader.ReadAsync(chunk).AsTask().WaitAsync(Long);
            Assert.True(n > 0, $"EOF after {received.Length} of {data.Length} bytes");
            received.Write(chunk, 0, n);
        }
        var drained = await ExpectMsgAsync<PumpProtocol.PumpDrained>(Long);
        Assert.Equal(data.Length, drained.Bytes);
        Assert.True(received.ToArray().AsSpan().SequenceEqual(data), "the bytes read differ from the bytes written");
        Assert.Equal(0, await reader.ReadAsync(chunk).AsTask().WaitAsync(Long));
    }

    [Fact]
    public async Task Drained_must_not_wait_for_a_reader_that_left_without_reading()
    {
        var fifo = Path.Combine(_dir, "abandoned");
        Fifo.Create(fifo);
        var reader = Fifo.OpenReader(fifo);
        var buffer = new OutputBuffer(64 * 1024);
        ChildActorOf(PumpProtocol.Output(buffer, fifo, "stdout"));
        buffer.Write(new byte[8 * 1024]);
        buffer.Complete();
        await AwaitAssertAsync(() => Assert.Equal(8 * 1024, reader.PipeBacklog().Unread), Long);
        await ExpectNoMsgAsync(TimeSpan.FromMilliseconds(100));

        reader.Dispose();

        Assert.Equal(8 * 1024, (await ExpectMsgAsync<PumpProtocol.PumpDrained>(Long)).Bytes);
    }

    [Fact]
    public async Task Drained_must_also_wait_for_a_reader_that_opened_the_fifo_after_the_pump()
    {
        // Without a reader the pump holds the FIFO read-write, which makes it a reader too: that one must not count.
        var fifo = Path.Combine(_dir, "late");
        Fifo.Create(fifo);
        var buffer = new OutputBuffer(64 * 1024);
        ChildActorOf(PumpProtocol.Output(buffer, fifo, "stdout"));
        buffer.Write("x"u8);
        // Opening write-only succeeds only once there is a reader: here, the pump's own read-write fd.
        await AwaitAssertAsync(() =>
        {
            using var opened = Fifo.TryOpenWriteOnly(fifo);
            Assert.NotNull(opened);
        }, Long);
        using var reader = Fifo.OpenReader(fifo);
        await AwaitAssertAsync(() => Assert.Equal(1, reader.PipeBacklog().Unread), Long);
        var data = new byte[100 * 1024];
        new Random(9).NextBytes(data);
        await Task.Run(() =>
        {
            buffer.Write(data);
            buffer.Complete();
        }).WaitAsync(Long);
        await AwaitAssertAsync(() => Assert.Equal(1 + data.Length, reader.PipeBacklog().Unread), Long);
        var first = new byte[1];
        Assert.Equal(1, await reader.ReadAsync(first).AsTask().WaitAsync(Long));

        await ExpectNoMsgAsync(TimeSpan.FromMilliseconds(300));

        var received = new MemoryStream();
        var chunk = new byte[16 * 1024];
        while (received.Length < data.Length)
        {
            var n = await reader.ReadAsync(chunk).AsTask().WaitAsync(Long);
            Assert.True(n > 0, $"EOF after {received.Length} of {data.Length} bytes");
            received.Write(chunk, 0, n);
        }
        Assert.Equal(1 + data.Length, (await ExpectMsgAsync<PumpProtocol.PumpDrained>(Long)).Bytes);
        Assert.True(received.ToArray().AsSpan().SequenceEqual(data), "the bytes read differ from the bytes written");
    }

    [Fact]
    public async Task Drained_must_not_wait_when_no_reader_ever_came()
    {
        var fifo = Path.Combine(_dir, "nobody");
        Fifo.Create(fifo);
        var buffer = new OutputBuffer(64 * 1024);
        ChildActorOf(PumpProtocol.Output(buffer, fifo, "stdout"));
        buffer.Write(new byte[8 * 1024]);
        buffer.Complete();

        Assert.Equal(8 * 1024, (await ExpectMsgAsync<PumpProtocol.PumpDrained>(Long)).Bytes);
    }

    [Fact]
    public async Task Stdin_must_flow_from_the_fifo_into_the_pipe_and_end_with_eof()
    {
        var fifo = Path.Combine(_dir, "stdin");
        Fifo.Create(fifo);
        var pipe = new GuestInputPipe();
        await using var guestSide = new FileStream(pipe.ReadEndPath, FileMode.Open, FileAccess.Read);
        pipe.ReleaseReadEnd();
        var pump = ChildActorOf(PumpProtocol.Input(fifo, pipe, TimeSpan.FromMilliseconds(100)));
        Watch(pump);
        await using (var client = new FileStream(fifo, FileMode.Open, FileAccess.Write))
            await client.WriteAsync("abc\n"u8.ToArray());
        var received = await new StreamReader(guestSide).ReadToEndAsync().WaitAsync(Long);
        Assert.Equal("abc\n", received);
        await ExpectTerminatedAsync(pump, Long);
    }

    [Fact]
    public async Task Close_input_must_give_the_guest_eof_while_the_client_still_holds_the_fifo()
    {
        var fifo = Path.Combine(_dir, "stdin2");
        Fifo.Create(fifo);
        var pipe = new GuestInputPipe();
        await using var guestSide = new FileStream(pipe.ReadEndPath, FileMode.Open, FileAccess.Read);
        pipe.ReleaseReadEnd();
        var pump = ChildActorOf(PumpProtocol.Input(fifo, pipe, TimeSpan.FromMilliseconds(50)));
        await using var client = new FileStream(fifo, FileMode.Open, FileAccess.Write);
        await client.WriteAsync("x"u8.ToArray());
        await client.FlushAsync();
        pump.Tell(new PumpProtocol.CloseInput(false));
        var received = await new StreamReader(guestSide).ReadToEndAsync().WaitAsync(Long);
        Assert.Equal("x", received);
    }
}
