using System.Text;
using WasmKata.Linux.Io;
using Xunit;

namespace WasmKata.Specs.Linux;

public sealed class PtySpec : IDisposable
{
    private readonly Pty _pty = Pty.Open();

    public void Dispose() => _pty.Dispose();

    [Fact]
    public void Open_must_give_a_slave_device_under_dev_pts_with_an_empty_window()
    {
        Assert.Matches("^/dev/pts/[0-9]+$", _pty.SlavePath);
        Assert.True(File.Exists(_pty.SlavePath));
        Assert.Equal(((ushort)0, (ushort)0), _pty.WindowSize());
    }

    [Fact]
    public void Resize_must_set_the_size_anything_reading_the_terminal_sees()
    {
        _pty.Resize(132, 43);

        Assert.Equal(((ushort)132, (ushort)43), _pty.WindowSize());
        Assert.Equal(((ushort)132, (ushort)43), Pty.WindowSizeOf(_pty.SlavePath));
    }

    [Fact]
    public async Task Output_written_to_the_slave_must_reach_the_master_with_crlf_line_ends()
    {
        await _pty.Slave.WriteAsync("one\ntwo\n"u8.ToArray()).Within();

        Assert.Equal("one\r\ntwo\r\n", await ReadMaster(10));
    }

    [Fact]
    public async Task Typed_input_must_be_echoed_and_reach_the_slave_as_a_line()
    {
        await _pty.Master.WriteAsync("hi\r"u8.ToArray()).Within();

        // The line discipline turns the typed CR into a newline, hands over the whole line and echoes it.
        var line = new byte[16];
        var n = await _pty.Slave.ReadAsync(line).Within();
        Assert.Equal("hi\n", Encoding.ASCII.GetString(line, 0, n));
        Assert.Equal("hi\r\n", await ReadMaster(4));
    }

    [Fact]
    public async Task The_master_must_yield_what_is_left_then_fail_as_slave_closed()
    {
        await _pty.Slave.WriteAsync("last"u8.ToArray()).Within();
        _pty.CloseSlave();

        Assert.Equal("last", await ReadMaster(4));
        var end = await Assert.ThrowsAnyAsync<IOException>(() => _pty.Master.ReadAsync(new byte[16]).Within());
        Assert.True(Pty.IsSlaveClosed(end), end.Message);
        Assert.Throws<ObjectDisposedException>(() => _pty.Slave);
    }

    [Fact]
    public void Opening_must_not_make_the_pty_our_controlling_terminal()
    {
        // Field 7 of /proc/self/stat is the controlling terminal's device number; O_NOCTTY must keep it as it was.
        var before = ControllingTty();
        using var another = Pty.Open();
        Assert.Equal(before, ControllingTty());
    }

    private async Task<string> ReadMaster(int count) =>
        Encoding.ASCII.GetString(await Await.ReadExactly(_pty.Master, count));

    private static string ControllingTty()
    {
        var stat = File.ReadAllText("/proc/self/stat");
        return stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[4];
    }
}
