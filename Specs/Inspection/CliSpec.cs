using System.Text;
using System.Text.Json;
using WasmKata.Cli;
using WasmKata.Inspection;
using Xunit;

namespace WasmKata.Specs.Inspection;

/// <summary>The CLI's parsing and rendering, over made-up snapshots.</summary>
public sealed class CliSpec
{
    private static readonly DateTimeOffset At = new(2026, 1, 2, 3, 4, 5, TimeSpan.Zero);

    [Theory]
    [InlineData(new[] { "ps", "--json" }, "ps", null, true)]
    [InlineData(new[] { "tree" }, "tree", null, false)]
    [InlineData(new[] { "tree", "c1", "-n", "k8s.io" }, "tree", "c1", false)]
    [InlineData(new[] { "inspect", "c1/e1", "--timeout", "0.5" }, "inspect", "c1/e1", false)]
    public void Args_must_parse_commands_ids_and_options(string[] args, string command, string? id, bool json)
    {
        var parsed = CliArgs.Parse(args, out var error);

        Assert.Null(error);
        Assert.Equal((command, id, json), (parsed.Command, parsed.Id, parsed.Json));
    }

    [Theory]
    [InlineData(new string[0], "no command given")]
    [InlineData(new[] { "inspect" }, "inspect takes one ID")]
    [InlineData(new[] { "ps", "extra" }, "ps takes no argument")]
    [InlineData(new[] { "top" }, "unknown command top")]
    [InlineData(new[] { "ps", "--timeout", "-1" }, "--timeout wants a positive number of seconds, not -1")]
    [InlineData(new[] { "ps", "--frobnicate" }, "unknown option --frobnicate")]
    public void Bad_args_must_be_refused_with_a_reason(string[] args, string reason)
    {
        CliArgs.Parse(args, out var error);

        Assert.Equal(reason, error);
    }

    [Fact]
    public void Ps_table_must_show_one_row_per_process_with_exit_and_times()
    {
        var text = PsTable.Render([Snapshot(1, "ns1", "c1")]);

        Assert.Matches(@"(?m)^1\s+ns1\s+c1\s+1\s+1\.0 MiB\s+2026-01-02T03:04:05Z\s+Up, 2 members, 1 unreachable$", text);
        Assert.Matches(@"(?m)^1\s+c1\s+-\s+100\s+STOPPED\s+3\s+2026-01-02T03:04:05Z\s+2026-01-02T03:04:05Z\s+64\.0 KiB\s+2\.0 MiB$", text);
        Assert.Matches(@"(?m)^1\s+c1\s+e1\s+101\s+RUNNING\s+-\s+-\s+-\s+0 B\s+-$", text);
    }

    [Fact]
    public void Tree_must_draw_the_container_subtree_and_refuse_unknown_ids()
    {
        var snapshot = Snapshot(1, "ns1", "c1");
        var text = new StringBuilder();

        TreeCommand.Render(text, snapshot, TreeCommand.Find(snapshot.Tree, "/user/sandbox/c1-1")!);

        Assert.Equal(
            "shim 1 · sandbox c1 · namespace ns1 · rss 1.0 MiB · cluster Up, 2 members, 1 unreachable\n" +
            "c1-1" + new string(' ', 13) + "container c1\n" +
            "└── init" + new string(' ', 9) + "init: Stopped\n" +
            "    └── stdout   guest stdout -> /fifo\n\n",
            text.ToString());
    }

    [Fact]
    public void Inspect_must_find_containers_and_execs_and_tell_ambiguity()
    {
        ShimSnapshot[] snapshots = [Snapshot(1, "ns1", "c1"), Snapshot(2, "ns2", "c1")];

        Assert.Equal(2, InspectCommand.Find(snapshots, "c1").Count);
        Assert.Equal(2, InspectCommand.Find(snapshots, "e1").Count);
        var exec = Assert.Single(InspectCommand.Find([snapshots[0]], "c1/e1"));
        Assert.Equal("e1", exec.Process!.ExecId);
        Assert.Empty(InspectCommand.Find(snapshots, "c2"));
        using var json = JsonDocument.Parse(CliJson.Inspect(exec));
        Assert.Equal(101, json.RootElement.GetProperty("process").GetProperty("pid").GetInt32());
    }

    private static ShimSnapshot Snapshot(int pid, string ns, string id)
    {
        var stdio = new StdioInfo("", "/fifo", "", false);
        var init = new ProcessInfo(id, "", 100, "Stopped", 3, At, At, 64 << 10, 0, stdio, "/user/sandbox/c1-1/init", ["stdout"]);
        var exec = new ProcessInfo(id, "e1", 101, "Running", null, null, null, 0, 0, stdio, "", []);
        var container = new ContainerInfo(id, "/b", "Stopped", 100, 3, At, At, 64 << 10, 2 << 20, 0, "/user/sandbox/c1-1", [init, exec]);
        var pump = new ActorNode("stdout", "/user/sandbox/c1-1/init/stdout", "pump", "guest stdout -> /fifo", []);
        var process = new ActorNode("init", "/user/sandbox/c1-1/init", "process", "init: Stopped", [pump]);
        var node = new ActorNode("c1-1", "/user/sandbox/c1-1", "container", "container c1", [process]);
        var cluster = new ClusterView("a", "Up", [new MemberView("a", "Up", true), new MemberView("b", "Up", false)]);
        var shim = new ShimInfo(pid, id, ns, "/b", At, 1 << 20, cluster);
        return new ShimSnapshot(shim, [container], new ActorNode("sandbox", "/user/sandbox", "sandbox", "1 container", [node]), true);
    }
}
