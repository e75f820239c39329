using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using WasmKata.Actors.Events;
using WasmKata.Core.Protos.EventsService;
using WasmKata.Linux.Mounts;
using WasmKata.Shim.Events;
using Xunit;
using Wire = WasmKata.Core.Protos.Events;

namespace WasmKata.Specs.Shim;

/// <summary>Events leave the shim as containerd's Forward calls, against an in-process fake events service.</summary>
public sealed class TtrpcEventSinkSpec : IDisposable
{
    private readonly UnixSocketDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Forward_must_carry_bare_type_url_namespace_topic_timestamp_and_header()
    {
        await using var containerd = new FakeEventsServer(_dir.SocketPath());
        await using var sink = new TtrpcEventSink("unix://" + _dir.SocketPath(), "research");
        var started = new TaskStarted("t1", 15729);

        await sink.PublishAsync(started, CancellationToken.None);
        var forwarded = await containerd.NextAsync();

        var envelope = forwarded.Request.Envelope;
        Assert.Equal(("research", "/tasks/start"), (envelope.Namespace, envelope.Topic));
        Assert.Equal("containerd.events.TaskStart", envelope.Event.TypeUrl);
        Assert.Equal(new Wire.TaskStart { ContainerId = "t1", Pid = 15729 }, Wire.TaskStart.Parser.ParseFrom(envelope.Event.Value));
        Assert.True(envelope.Timestamp.Seconds > 0);
        Assert.Equal(started.Timestamp, envelope.Timestamp.ToDateTimeOffset());
        Assert.Equal([new("containerd-namespace-ttrpc", "research")], forwarded.Metadata);
        Assert.True(forwarded.HadDeadline);
    }

    [Fact]
    public async Task Exit_and_delete_must_carry_exited_at()
    {
        await using var containerd = new FakeEventsServer(_dir.SocketPath());
        await using var sink = new TtrpcEventSink(_dir.SocketPath(), "default");
        var exitedAt = new DateTimeOffset(2026, 11, 25, 10, 0, 0, TimeSpan.Zero).AddTicks(1234567);

        await sink.PublishAsync(new TaskExited("t1", "e1", 42, 137, exitedAt), CancellationToken.None);
        await sink.PublishAsync(new TaskDeleted("t1", "", 42, 137, exitedAt), CancellationToken.None);

        var exit = Wire.TaskExit.Parser.ParseFrom((await containerd.NextAsync()).Request.Envelope.Event.Value);
        var delete = Wire.TaskDelete.Parser.ParseFrom((await containerd.NextAsync()).Request.Envelope.Event.Value);
        Assert.Equal(("t1", "e1", 42u, 137u, exitedAt), (exit.ContainerId, exit.Id, exit.Pid, exit.ExitStatus, exit.ExitedAt.ToDateTimeOffset()));
        Assert.Equal(("t1", "", 42u, 137u, exitedAt), (delete.ContainerId, delete.Id, delete.Pid, delete.ExitStatus, delete.ExitedAt.ToDateTimeOffset()));
    }

    [Fact]
    public async Task Events_must_share_one_persistent_connection()
    {
        await using var containerd = new FakeEventsServer(_dir.SocketPath());
        await using var sink = new TtrpcEventSink(_dir.SocketPath(), "default");

        for (var i = 0; i < 3; i++)
            await sink.PublishAsync(new TaskPaused("t1"), CancellationToken.None);

        var ids = new List<uint>();
        for (var i = 0; i < 3; i++)
            ids.Add((await containerd.NextAsync()).StreamId);

        Assert.Equal([1u, 3u, 5u], ids);
    }

    [Fact]
    public async Task Sink_must_reconnect_after_containerd_closed_the_connection()
    {
        var path = _dir.SocketPath();
        await using var sink = new TtrpcEventSink(path, "default");
        await using (var first = new FakeEventsServer(path))
        {
            await sink.PublishAsync(new TaskStarted("t1", 1), CancellationToken.None);
            await first.NextAsync();
        }

        // As after a containerd restart: same path, a new listener, the old connection dead.
        File.Delete(path);
        await using var second = new FakeEventsServer(path);
        await sink.PublishAsync(new TaskExited("t1", "t1", 1, 0, DateTimeOffset.UtcNow), CancellationToken.None);

        var forwarded = await second.NextAsync();
        Assert.Equal("/tasks/exit", forwarded.Request.Envelope.Topic);
        Assert.Equal(1u, forwarded.StreamId);
    }

    [Fact]
    public async Task Sink_must_throw_when_containerd_is_unreachable()
    {
        await using var sink = new TtrpcEventSink(_dir.SocketPath("absent.sock"), "default");

        var failure = await Record.ExceptionAsync(() => sink.PublishAsync(new TaskOom("t1"), CancellationToken.None));

        Assert.True(failure is IOException or System.Net.Sockets.SocketException, $"unexpected {failure}");
    }

    public static TheoryData<ShimEvent, string, string> AllEvents => new()
    {
        { new TaskCreated("c", "/b", [new MountSpec("bind", "/s", "", ["rbind", "rw"])], new TaskIo("i", "o", "e", false), 7), "/tasks/create", "containerd.events.TaskCreate" },
        { new TaskStarted("c", 7), "/tasks/start", "containerd.events.TaskStart" },
        { new TaskExited("c", "c", 7, 0, DateTimeOffset.UnixEpoch), "/tasks/exit", "containerd.events.TaskExit" },
        { new TaskDeleted("c", "", 7, 0, DateTimeOffset.UnixEpoch), "/tasks/delete", "containerd.events.TaskDelete" },
        { new TaskExecAdded("c", "e"), "/tasks/exec-added", "containerd.events.TaskExecAdded" },
        { new TaskExecStarted("c", "e", 8), "/tasks/exec-started", "containerd.events.TaskExecStarted" },
        { new TaskOom("c"), "/tasks/oom", "containerd.events.TaskOOM" },
        { new TaskPaused("c"), "/tasks/paused", "containerd.events.TaskPaused" },
        { new TaskResumed("c"), "/tasks/resumed", "containerd.events.TaskResumed" },
    };

    [Theory]
    [MemberData(nameof(AllEvents))]
    public void Every_event_must_map_to_its_containerd_type(ShimEvent shimEvent, string topic, string typeUrl)
    {
        var envelope = TaskEventEnvelopes.ToEnvelope(shimEvent, "ns");

        Assert.Equal((topic, typeUrl), (envelope.Topic, envelope.Event.TypeUrl));
        Assert.Equal(shimEvent.Timestamp, envelope.Timestamp.ToDateTimeOffset());
        Assert.Equal("c", Wire.TaskStart.Parser.ParseFrom(envelope.Event.Value).ContainerId);
    }

    [Fact]
    public void Create_event_must_carry_rootfs_io_and_pid()
    {
        var created = new TaskCreated("c", "/run/b", [new MountSpec("bind", "/snap/1", "", ["rbind", "ro"])], new TaskIo("/i", "/o", "/e", true), 99);

        var wire = Wire.TaskCreate.Parser.ParseFrom(TaskEventEnvelopes.ToEnvelope(created, "ns").Event.Value);

        Assert.Equal(("c", "/run/b", 99u), (wire.ContainerId, wire.Bundle, wire.Pid));
        Assert.Equal(("bind", "/snap/1", "rbind,ro"), (wire.Rootfs.Single().Type, wire.Rootfs.Single().Source, string.Join(',', wire.Rootfs.Single().Options)));
        Assert.Equal(("/i", "/o", "/e", true), (wire.Io.Stdin, wire.Io.Stdout, wire.Io.Stderr, wire.Io.Terminal));
    }

    [Fact]
    public void Forward_payload_must_equal_the_captured_bytes()
    {
        var envelope = TaskEventEnvelopes.ToEnvelope(new TaskStarted("t1", 15729), "research");
        // The captured nanoseconds are finer than DateTimeOffset's 100 ns ticks, so set them on the wire form.
        envelope.Timestamp = new Timestamp { Seconds = 1795614313, Nanos = 817294784 };

        var payload = new ForwardRequest { Envelope = envelope }.ToByteArray();

        byte[] expected =
        [
            .. Convert.FromHexString("0A4E" + "0A0C08E9CC9BD80610C0DBDB8503" + "1208"), .. "research"u8.ToArray(),
            .. Convert.FromHexString("1A0C"), .. "/tasks/start"u8.ToArray(),
            .. Convert.FromHexString("2226" + "0A1B"), .. "containerd.events.TaskStart"u8.ToArray(),
            .. Convert.FromHexString("1207" + "0A027431" + "10F17A"),
        ];
        Assert.Equal(expected, payload);
    }
}
