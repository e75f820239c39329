using System.Diagnostics;
using WasmKata.Inspection;
using WasmKata.Specs.Linux;
using Xunit;

namespace WasmKata.Specs.Inspection;

/// <summary>The live-address directory, the host keys and the janitor's rules; no actor system needed.</summary>
public sealed class InspectionDirectorySpec : IDisposable
{
    private readonly TempDirectory _temp = new();

    private string DirPath => _temp.Sub("inspect");

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void Create_must_leave_the_directory_to_its_owner_only()
    {
        Directory.CreateDirectory(DirPath);
        File.SetUnixFileMode(DirPath, (UnixFileMode)0x1ed); // 0755, as a careless set-up would leave it

        InspectionDirectory.Create(DirPath);

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(DirPath));
    }

    [Fact]
    public void Keys_must_be_created_once_owner_only_and_then_shared()
    {
        var directory = InspectionDirectory.Create(DirPath);

        using var first = directory.LoadOrCreateKeys();
        using var second = directory.LoadOrCreateKeys();
        using var read = directory.LoadKeys();

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(DirPath, "identity.pfx")));
        Assert.Equal(first.Certificate.Thumbprint, second.Certificate.Thumbprint);
        Assert.True(first.IsPeer(read!.Certificate));
        Assert.Equal(first.TokenFor(42, 1234), read.TokenFor(42, 1234));
        Assert.Single(Directory.GetFiles(DirPath));
    }

    [Fact]
    public void Tokens_must_hold_only_for_their_shim_and_their_key()
    {
        using var keys = InspectionKeys.Load(InspectionKeys.CreatePfx());
        using var other = InspectionKeys.Load(InspectionKeys.CreatePfx());
        var token = keys.TokenFor(100, 4000);

        Assert.True(keys.Accepts(token, 100, 4000));
        Assert.False(keys.Accepts(token, 100, 4001));
        Assert.False(keys.Accepts(token, 101, 4000));
        Assert.False(other.Accepts(token, 100, 4000));
        Assert.False(keys.Accepts("", 100, 4000));
        Assert.False(keys.IsPeer(other.Certificate));
        Assert.False(keys.IsPeer(null));
    }

    [Fact]
    public async Task Live_entries_must_drop_dead_reused_and_garbled_ones()
    {
        var directory = InspectionDirectory.Create(DirPath);
        var self = Environment.ProcessId;
        var start = InspectionDirectory.ProcessStart(self);
        Assert.True(start > 0);
        using var child = Process.Start("true")!;
        await child.WaitForExitAsync();
        directory.Register(new ShimEntry(self, start, 4001, "me", "ns", DateTimeOffset.UtcNow));
        directory.Register(new ShimEntry(child.Id, 1, 4002, "dead", "ns", DateTimeOffset.UtcNow));
        var reused = new ShimEntry(1, start + 1, 4003, "reused", "ns", DateTimeOffset.UtcNow);
        directory.Register(reused);
        await File.WriteAllTextAsync(Path.Combine(DirPath, "77.json"), "{not json");

        var live = directory.LiveEntries();

        Assert.Equal(["me"], live.Select(e => e.Id));
        Assert.Equal([$"{self}.json"], Directory.GetFiles(DirPath, "*.json").Select(Path.GetFileName));
        directory.Remove(self);
        Assert.Empty(directory.LiveEntries());
    }

    [Fact]
    public void Seeds_must_put_the_oldest_live_entry_first()
    {
        var now = DateTimeOffset.UtcNow;
        ShimEntry[] entries =
        [
            new(30, 1, 5003, "c", "ns", now.AddSeconds(2)),
            new(20, 1, 5002, "b", "ns", now),
            new(10, 1, 5001, "a", "ns", now),
        ];

        var seeds = ClusterJanitorActor.Seeds(entries);

        Assert.Equal([5001, 5002, 5003], seeds.Select(a => a.Port!.Value));
        Assert.All(seeds, a => Assert.Equal(("akka.ssl.tcp", "wasmkata", "127.0.0.1"), (a.Protocol, a.System, a.Host)));
    }

    [Fact]
    public void Gone_must_name_only_unreachable_members_no_live_entry_claims()
    {
        var live = new[] { new ShimEntry(10, 1, 5001, "a", "ns", DateTimeOffset.UtcNow) };
        var still = InspectionRemoting.AddressOf(5001);
        var gone = InspectionRemoting.AddressOf(5002);

        Assert.Equal([gone], ClusterJanitorActor.Gone([still, gone], live));
        Assert.Empty(ClusterJanitorActor.Gone([still], live));
    }
}
