using Akka.Actor;
using Akka.TestKit.Xunit2;
using WasmKata.Actors;
using WasmKata.Actors.Sandbox;
using WasmKata.Core;
using WasmKata.Core.State;
using WasmKata.Engine;
using WasmKata.Linux.Mounts;
using Xunit;
using static WasmKata.Actors.TaskProtocol;

namespace WasmKata.Specs.Actors;

/// <summary>The state directory on a 64 KiB tmpfs filled to the last byte: errors, never corruption.</summary>
[Trait("Requires", "root")]
public sealed class FullDiskSpec : TestKit
{
    private readonly string _stateRoot = Directory.CreateTempSubdirectory("wk-full-").FullName;
    private readonly StateStore _store;

    public FullDiskSpec() : base("akka.loglevel = WARNING")
    {
        Mounts.MountAll([new MountSpec("tmpfs", "tmpfs", "", ["size=64k", "mode=0700"])], _stateRoot);
        _store = new StateStore(_stateRoot);
    }

    protected override void AfterAll()
    {
        base.AfterAll();

        // TestKit stops the actor system only after this: stop it first, or a container still shutting down writes its
        // state while the directory is being deleted.
        Shutdown();
        Mounts.UnmountAll(_stateRoot);
        Directory.Delete(_stateRoot, recursive: true);
    }

    [Fact]
    public void A_save_on_a_full_disk_must_fail_and_leave_the_old_state_intact()
    {
        var old = State("full1", "running");
        _store.Save(old);
        Fill();

        var failure = Assert.ThrowsAny<IOException>(() => _store.Save(old with { Status = "stopped", ExitStatus = 0, Bundle = new string('b', 16 << 10) }));

        Assert.Contains("space", failure.Message, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(old, _store.Load("spec", "full1"));
        Assert.Equal(["state.json"], Directory.GetFiles(_store.DirectoryOf("spec", "full1")).Select(Path.GetFileName));
    }

    [Fact]
    public async Task A_create_whose_state_cannot_be_saved_must_fail_clearly_and_leave_nothing()
    {
        using var engine = new WasmEngine(new EngineOptions());
        var settings = new RuntimeSettings { Namespace = "spec", StateRoot = _stateRoot, ReapOrphans = false };
        var sandbox = Sys.ActorOf(SandboxProtocol.Props(engine, new RecordingEventSink(), settings, new NoExit()));
        using var bundle = new TestBundle(Wat.PrintAndExit("never\n", 0));
        Fill();

        var failure = Assert.IsType<CommandFailed>(await sandbox.Ask<object>(
            new CreateTask("nospace", bundle.Path, [], new Stdio("", bundle.StdoutUri, "", false)), TimeSpan.FromSeconds(10)));

        Assert.Equal(FailureCode.Internal, failure.Code);
        Assert.Contains("cannot save state", failure.Message, StringComparison.Ordinal);
        Assert.Contains("space", failure.Message, StringComparison.OrdinalIgnoreCase);
        await AwaitAssertAsync(() => Assert.False(Directory.Exists(_store.DirectoryOf("spec", "nospace"))));
        Assert.Equal("", bundle.Stdout);
        // The id is free again and the sandbox serves: with room on the disk the same create succeeds.
        File.Delete(Path.Combine(_stateRoot, "filler"));
        Assert.IsType<Created>(await sandbox.Ask<object>(
            new CreateTask("nospace", bundle.Path, [], new Stdio("", bundle.StdoutUri, "", false)), TimeSpan.FromSeconds(10)));
        Assert.NotNull(_store.Load("spec", "nospace"));
        Assert.IsType<Exited>(await sandbox.Ask<object>(new DeleteTask("nospace", ""), TimeSpan.FromSeconds(10)));
    }

    private static ContainerState State(string id, string status) =>
        new() { Id = id, Namespace = "spec", Bundle = "/b/" + id, Rootfs = "/b/" + id + "/rootfs", ShimPid = 1, InitPid = 2, Status = status };

    /// <summary>Writes a filler file until the tmpfs refuses another byte.</summary>
    private void Fill()
    {
        using var filler = new FileStream(Path.Combine(_stateRoot, "filler"), FileMode.Create, FileAccess.Write, FileShare.None, 1);
        var block = new byte[1024];
        try
        {
            for (var i = 0; i < 1024; i++)
                filler.Write(block);
        }
        catch (IOException)
        {
            // Full.
        }

        try
        {
            filler.WriteByte(0);
            filler.Flush();
        }
        catch (IOException)
        {
        }

        Assert.ThrowsAny<IOException>(() => File.WriteAllBytes(Path.Combine(_stateRoot, "probe"), new byte[4096]));
        File.Delete(Path.Combine(_stateRoot, "probe"));
    }
}
