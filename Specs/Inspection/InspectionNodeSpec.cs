using System.Diagnostics;
using System.Text.Json;
using Akka.Actor;
using Akka.Event;
using Akka.TestKit.Xunit2;
using WasmKata.Actors;
using WasmKata.Actors.Sandbox;
using WasmKata.Cli;
using WasmKata.Engine;
using WasmKata.Inspection;
using WasmKata.Specs.Actors;
using WasmKata.Specs.Linux;
using Xunit;
using Xunit.Abstractions;
using static WasmKata.Actors.TaskProtocol;

namespace WasmKata.Specs.Inspection;

/// <summary>
/// One shim's inspection system, started in this process over real loopback remoting with mutual TLS, and the
/// CLI run in-process against its directory.
/// </summary>
public sealed class InspectionNodeSpec : TestKit, IAsyncLifetime
{
    private static readonly TimeSpan Long = TimeSpan.FromSeconds(15);
    private readonly WasmEngine _engine = new(new EngineOptions());
    private readonly TempDirectory _temp = new();
    private readonly List<TestBundle> _bundles = [];
    private readonly IActorRef _sandbox;
    private readonly InspectionNode _node;

    public InspectionNodeSpec(ITestOutputHelper output) : base("akka.loglevel = INFO", output)
    {
        _sandbox = Sys.ActorOf(SandboxProtocol.Props(_engine, new RecordingEventSink(), new RuntimeSettings { ReapOrphans = false }, new NoExit()), "sandbox");
        var identity = new ShimIdentity(Environment.ProcessId, "node-spec", "specs", _temp.Path, DateTimeOffset.UtcNow);
        var inspection = Sys.ActorOf(InspectionProtocol.Props("/user/sandbox", identity), "inspection");
        _node = InspectionNode.Launch(Options, inspection, Logging.GetLogger(Sys, "inspection"));
    }

    private string DirPath => _temp.Sub("inspect");

    private InspectionOptions Options => new()
    {
        ShimId = "node-spec",
        Namespace = "specs",
        Directory = DirPath,
        JanitorInterval = TimeSpan.FromMilliseconds(500),
    };

    // Dormant until a spec or the CLI asks: registered (port 0, with a bell) in the background.
    public async Task InitializeAsync() =>
        await AwaitAssertAsync(() => Assert.Contains(InspectionDirectory.Create(DirPath).LiveEntries(), e => e.Pid == Environment.ProcessId), Long);

    public async Task DisposeAsync()
    {
        await _node.StopAsync();
        foreach (var bundle in _bundles)
            bundle.Dispose();
        _temp.Dispose();
    }

    protected override void AfterAll()
    {
        base.AfterAll();
        _engine.Dispose();
    }

    [Fact]
    public async Task Ps_json_must_list_the_shim_its_containers_and_its_cluster()
    {
        await Ask<Created>(new CreateTask("listed", Bundle(Wat.Sleep).Path, [], Stdio.None));
        await Ask<Started>(new StartTask("listed", ""));

        // A cluster of one: the shim formed it itself, being the oldest (only) entry.
        await AwaitAssertAsync(async () =>
        {
            var (code, stdout, stderr) = await Cli("ps", "--json");
            Assert.True(code == 0, stderr);
            using var json = JsonDocument.Parse(stdout);
            var shim = Assert.Single(json.RootElement.GetProperty("shims").EnumerateArray());
            Assert.Equal(Environment.ProcessId, shim.GetProperty("shim").GetProperty("pid").GetInt32());
            Assert.Equal("listed", shim.GetProperty("containers")[0].GetProperty("id").GetString());
            Assert.Equal("Running", shim.GetProperty("containers")[0].GetProperty("status").GetString());
            var cluster = shim.GetProperty("shim").GetProperty("cluster");
            Assert.Equal("Up", cluster.GetProperty("selfStatus").GetString());
            Assert.Equal(1, cluster.GetProperty("members").GetArrayLength());
            Assert.Empty(json.RootElement.GetProperty("unanswered").EnumerateArray());
        }, Long, TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public async Task A_dormant_shim_must_be_listed_and_start_inspection_only_when_the_cli_asks()
    {
        var directory = InspectionDirectory.Create(DirPath);
        var bell = directory.BellPath(Environment.ProcessId);
        Assert.True(Assert.Single(directory.LiveEntries()).Dormant);
        Assert.True(File.Exists(bell));
        Assert.False(_node.Awake);

        var (code, stdout, stderr) = await Cli("ps", "--json");

        Assert.True(code == 0, stderr);
        Assert.True(_node.Awake);
        using var json = JsonDocument.Parse(stdout);
        Assert.Equal(Environment.ProcessId, Assert.Single(json.RootElement.GetProperty("shims").EnumerateArray())
            .GetProperty("shim").GetProperty("pid").GetInt32());
        var woken = Assert.Single(directory.LiveEntries());
        Assert.Equal(await _node.PortAsync(), woken.Port);
        // The bell still answers (with the same port) for CLIs that read the entry before it changed.
        Assert.Equal(woken.Port, await InspectionBell.RingAsync(bell, Long));
    }

    [Fact]
    public async Task Ps_and_tree_must_print_tables_and_the_pumps()
    {
        var bundle = Bundle(Wat.Sleep);
        await Ask<Created>(new CreateTask("shown", bundle.Path, [], new Stdio("", bundle.StdoutUri, bundle.StdoutUri + ".err", false)));
        await Ask<Started>(new StartTask("shown", ""));

        var ps = await Cli("ps");
        var tree = await Cli("tree", "shown");

        Assert.True(ps.Code == 0, ps.Stderr);
        Assert.Contains("CONTAINER", ps.Stdout);
        Assert.Matches(@"shown\s+-\s+\d+\s+RUNNING", ps.Stdout);
        Assert.True(tree.Code == 0, tree.Stderr);
        Assert.Contains("└── init", tree.Stdout);
        Assert.Contains("├── stderr", tree.Stdout);
        Assert.Contains("└── stdout", tree.Stdout);
        Assert.Equal(1, (await Cli("tree", "no-such-container")).Code);
    }

    [Fact]
    public async Task A_shim_that_does_not_answer_must_be_named_and_skipped()
    {
        // Live processes that are no shims: one at a port where nothing listens, one dormant with no bell.
        using var stranger = Process.Start("sleep", "60")!;
        using var sleeper = Process.Start("sleep", "60")!;
        try
        {
            var port = UnusedPort();
            var directory = InspectionDirectory.Create(DirPath);
            directory.Register(new ShimEntry(
                stranger.Id, InspectionDirectory.ProcessStart(stranger.Id), port, "mute", "specs", DateTimeOffset.UtcNow));
            directory.Register(new ShimEntry(
                sleeper.Id, InspectionDirectory.ProcessStart(sleeper.Id), 0, "bell-less", "specs", DateTimeOffset.UtcNow));

            var (code, stdout, stderr) = await Cli("ps", "--json", "--timeout", "10");

            Assert.True(code == 0, stderr);
            Assert.Contains($"shim pid {stranger.Id} (sandbox mute, namespace specs, port {port}) did not answer", stderr);
            Assert.Contains($"shim pid {sleeper.Id} (sandbox bell-less, namespace specs, port 0) did not wake", stderr);
            using var json = JsonDocument.Parse(stdout);
            Assert.Equal(Environment.ProcessId, Assert.Single(json.RootElement.GetProperty("shims").EnumerateArray())
                .GetProperty("shim").GetProperty("pid").GetInt32());
            Assert.Equal(
                new[] { stranger.Id, sleeper.Id }.Order(),
                json.RootElement.GetProperty("unanswered").EnumerateArray().Select(u => u.GetProperty("pid").GetInt32()).Order());
        }
        finally
        {
            stranger.Kill();
            sleeper.Kill();
        }
    }

    [Fact]
    public async Task Only_a_client_with_the_host_key_and_the_right_token_may_inspect()
    {
        var port = (await _node.PortAsync())!.Value;
        var gateway = InspectionRemoting.GatewayPath(port);
        using var hostKeys = InspectionDirectory.Create(DirPath).LoadKeys()!;
        using var strangerKeys = InspectionKeys.Load(InspectionKeys.CreatePfx());
        var settings = InspectionRemoting.Settings("remote", "akka.loglevel = OFF\nakka.stdout-loglevel = OFF");

        var stranger = InspectionRemoting.Start(settings, strangerKeys);
        var insider = InspectionRemoting.Start(settings, hostKeys);
        try
        {
            // Mutual TLS with a pinned certificate: without the host's key the connection never completes.
            await Assert.ThrowsAsync<AskTimeoutException>(() => stranger.ActorSelection(gateway)
                .Ask<object>(new InspectionWire.Inspect(strangerKeys.TokenFor(Environment.ProcessId, port)), TimeSpan.FromSeconds(2)));
            var denied = await insider.ActorSelection(gateway).Ask<object>(new InspectionWire.Inspect("guessed"), Long);
            Assert.IsType<InspectionWire.Denied>(denied);
            var answered = await insider.ActorSelection(gateway)
                .Ask<object>(new InspectionWire.Inspect(hostKeys.TokenFor(Environment.ProcessId, port)), Long);
            Assert.Equal("node-spec", Assert.IsType<InspectionWire.InspectReply>(answered).Snapshot.Shim.Id);
        }
        finally
        {
            await Task.WhenAll(stranger.Terminate(), insider.Terminate());
        }
    }

    [Fact]
    public async Task Events_must_stream_to_the_cli_until_cancelled()
    {
        using var cancel = new CancellationTokenSource(Long);
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var run = Task.Run(() => CliProgram.RunAsync(
            ["events", "--dir", DirPath], TextWriter.Synchronized(stdout), TextWriter.Synchronized(stderr), cancel.Token));
        await AwaitAssertAsync(() => Assert.Contains("following shim pid", stderr.ToString()), Long);

        await Ask<Created>(new CreateTask("streamed", Bundle(Wat.PrintAndExit("x", 5)).Path, [], Stdio.None));
        await Ask<Started>(new StartTask("streamed", ""));

        await AwaitAssertAsync(() => Assert.Matches(@"/tasks/exit\s+streamed\s+pid \d+\s+exit 5", stdout.ToString()), Long);
        Assert.Contains("/tasks/create", stdout.ToString());
        await cancel.CancelAsync();
        Assert.Equal(0, await run);
    }

    [Fact]
    public async Task Stop_must_remove_the_entry()
    {
        var directory = InspectionDirectory.Create(DirPath);
        Assert.Contains(directory.LiveEntries(), e => e.Pid == Environment.ProcessId);

        await _node.StopAsync();

        Assert.DoesNotContain(directory.LiveEntries(), e => e.Pid == Environment.ProcessId);
        Assert.False(File.Exists(directory.BellPath(Environment.ProcessId)));
        Assert.False(_node.Awake);
        var (code, stdout, _) = await Cli("ps");
        Assert.Equal((0, "no wasmkata shim is running\n"), (code, stdout));
    }

    [Fact]
    public async Task With_no_directory_the_cli_must_say_no_shim_runs_and_exit_0()
    {
        var stdout = new StringWriter();
        var code = await CliProgram.RunAsync(["tree", "--dir", _temp.Sub("never-created")], stdout, new StringWriter(), CancellationToken.None);

        Assert.Equal((0, "no wasmkata shim is running\n"), (code, stdout.ToString()));
    }

    private async Task<(int Code, string Stdout, string Stderr)> Cli(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        // A loaded machine can take seconds for a first answer (a new remoting client, its TLS handshake): the specs
        // give each shim longer than the CLI's 5 s unless they set their own.
        string[] timeout = args.Contains("--timeout") ? [] : ["--timeout", "20"];
        var code = await CliProgram.RunAsync([.. args, .. timeout, "--dir", DirPath], stdout, stderr, CancellationToken.None);
        return (code, stdout.ToString(), stderr.ToString());
    }

    private static int UnusedPort()
    {
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    private TestBundle Bundle(string wat)
    {
        var bundle = new TestBundle(wat);
        _bundles.Add(bundle);
        return bundle;
    }

    private async Task<T> Ask<T>(object command) => Assert.IsType<T>(await _sandbox.Ask<object>(command, Long));
}
