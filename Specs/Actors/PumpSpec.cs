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
