using WasmKata.Linux;
using WasmKata.Linux.Processes;
using Xunit;

namespace WasmKata.Specs.Linux;

public sealed class ProcStatSpec
{
    [Theory]
    [InlineData("sh", 'Z', 7, 42, 42)]
    [InlineData("a) (b", 'S', 1, 2, 3)]
    [InlineData("a) b (c)", 'S', 1, 2, 3)]
    [InlineData("we) ird (name", 'R', 1, 1234, 1234)]
    [InlineData("two  spaces", 'D', 0, 0, 0)]
    [InlineData("", 'I', 2, 0, 0)]
    public void A_stat_line_must_parse_whatever_the_command_name_holds(string command, char state, int ppid, int pgrp, int session)
    {
        var line = Line(4321, command, state, ppid, pgrp, session);

        Assert.True(ProcStat.TryParse(line, out var stat), line);
        Assert.Equal(new ProcStat(4321, command, state, ppid, pgrp, session, UserTicks: 17, SystemTicks: 5, StartTicks: 90051, Flags: 4194304), stat);
    }

    [Theory]
    [InlineData("")]
    [InlineData("garbage")]
    [InlineData("42 (sh")]
    [InlineData("(sh) S 1 2 3 0 -1 4194304 98 0 0 0 17 5 0 0 20 0 1 0 90051")]
    [InlineData("x2 (sh) S 1 2 3 0 -1 4194304 98 0 0 0 17 5 0 0 20 0 1 0 90051")]
    [InlineData("42 (sh) Z 7 42 42 0 -1")]
    [InlineData("42 (sh) SS 1 2 3 0 -1 4194304 98 0 0 0 17 5 0 0 20 0 1 0 90051")]
    [InlineData("42 (sh) S 1 2 3 0 -1 4194304 98 0 0 0 17 5 0 0 20 0 1 0 later")]
    public void A_line_that_is_not_a_stat_line_must_not_parse(string line)
    {
        Assert.False(ProcStat.TryParse(line, out var stat));
        Assert.Equal(default, stat);
    }

    [Fact]
    public void A_line_that_ends_with_the_start_time_must_parse()
    {
        Assert.True(ProcStat.TryParse("42 (sh) S 1 2 3 0 -1 4194304 98 0 0 0 17 5 0 0 20 0 1 0 90051\n", out var stat));
        Assert.Equal(90051, stat.StartTicks);
        Assert.False(stat.IsExiting);
        Assert.True(ProcStat.TryParse("42 (sh) S 1 2 3 0 -1 4194308 98 0 0 0 17 5 0 0 20 0 1 0 90051\n", out var exiting));
        Assert.True(exiting.IsExiting);
    }

    [Fact]
    public void This_process_must_read_as_itself()
    {
        Assert.True(ProcStat.TryRead(Environment.ProcessId, out var stat));
        Assert.Equal(Environment.ProcessId, stat.Pid);
        Assert.Equal(File.ReadAllText("/proc/self/comm").TrimEnd('\n'), stat.Command);
        Assert.Contains(stat.State, "RS");
        Assert.Equal(Interop.GetSid(0), stat.Session);
        Assert.True(stat.StartTicks > 0);
        Assert.True(stat.UserTicks + stat.SystemTicks > 0);

        Assert.True(ProcStat.TryReadThread(Self.GetThreadId(), out var thread));
        Assert.Equal(Self.GetThreadId(), thread.Pid);
        Assert.Equal(stat.ParentPid, thread.ParentPid);
    }

    [Fact]
    public void A_missing_pid_must_not_read()
    {
        // Above any pid_max the kernel allows (2^22), so never a process.
        Assert.False(ProcStat.TryRead(int.MaxValue, out var stat));
        Assert.Equal(default, stat);
        Assert.False(ProcStat.TryReadThread(1, out _));
    }

    [Fact]
    public async Task A_zombie_must_read_with_state_Z_and_its_parent()
    {
        // Claimed, so a ChildReaper spec running meanwhile leaves it to us.
        var zombie = ChildReaper.SpawnClaimed(() => Spawner.Spawn("/bin/true", ["true"], [], "/", [], closeFrom: 3));
        try
        {
            var deadline = DateTime.UtcNow + Await.Long;
            ProcStat stat;
            while (!ProcStat.TryRead(zombie, out stat) || stat.State != 'Z')
            {
                Assert.True(DateTime.UtcNow < deadline, $"pid {zombie} never became a zombie");
                await Task.Delay(10);
            }

            Assert.Equal(zombie, stat.Pid);
            Assert.Equal(Environment.ProcessId, stat.ParentPid);
            Assert.Equal(zombie, stat.Session);
            Assert.Equal("true", stat.Command);
        }
        finally
        {
            Assert.Equal(zombie, Interop.WaitPid(zombie, out _, 0));
            ChildReaper.Release(zombie);
        }

        Assert.False(ProcStat.TryRead(zombie, out _));
    }

    /// <summary>A stat line as the kernel writes it (all 52 fields), utime 17, stime 5 and start time 90051.</summary>
    private static string Line(int pid, string command, char state, int ppid, int pgrp, int session) =>
        $"{pid} ({command}) {state} {ppid} {pgrp} {session} 0 -1 4194304 98 0 0 0 17 5 0 0 20 0 1 0 90051 3133440 381 "
        + "18446744073709551615 94914148450304 94914148470185 140731685036896 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 "
        + "94914148486192 94914148487808 94914688708608 140731685042660 140731685042680 140731685042680 140731685044203 0\n";
}
