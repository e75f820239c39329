using System.Diagnostics;
using WasmKata.Linux.Idmap;
using Xunit;

namespace WasmKata.Specs.Linux.Idmap;

[Trait("Requires", "root")]
public sealed class IdRangeAllocatorSpec : IDisposable
{
    // Far from the ids the guest-host specs run as (2100000), so a process of theirs never looks like a user here.
    private const uint Base = 3_000_000_000;

    private readonly TempDirectory _dir = new();
    private readonly List<Process> _processes = [];

    public void Dispose()
    {
        foreach (var process in _processes)
        {
            if (!process.HasExited)
                process.Kill();
            process.WaitForExit();
            process.Dispose();
        }
        _dir.Dispose();
    }

    private string Slots => _dir.Sub("uids");

    [Fact]
    public void Concurrent_allocators_with_their_own_lock_fds_must_get_distinct_slots()
    {
        const int Sandboxes = 24;
        using var go = new Barrier(Sandboxes);
        var ranges = new IdRange[Sandboxes];
        var threads = Enumerable.Range(0, Sandboxes).Select(i => new Thread(() =>
        {
            // One allocator each: each opens its own lock fd, and flock excludes open file descriptions, not processes.
            var allocator = new IdRangeAllocator(Base, Sandboxes, Slots);
            go.SignalAndWait();
            ranges[i] = allocator.Allocate($"sandbox-{i}").Range;
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());

        Assert.Equal(Enumerable.Range(0, Sandboxes), ranges.Select(r => r.Slot).Order());
        Assert.Equal(Sandboxes, ranges.Select(r => r.HostBase).Distinct().Count());
        Assert.All(ranges, r => Assert.Equal(Base + ((uint)r.Slot * 65536), r.HostBase));
        Assert.Equal(Sandboxes, Directory.GetFiles(Slots).Count(f => !Path.GetFileName(f).StartsWith('.')));
    }

    [Fact]
    public void Many_processes_allocating_at_once_must_get_distinct_slots_and_leave_them_to_reclaim()
    {
        const int Processes = 8, Each = 10;
        var children = Enumerable.Range(0, Processes)
            .Select(p => AllocatorProcess.Start(Slots, Base, Processes * Each, $"p{p}", Each)).ToList();
        _processes.AddRange(children);
        foreach (var child in children)
            Assert.Equal("ready", child.StandardOutput.ReadLine());

        // All are up and waiting: release them together.
        foreach (var child in children)
        {
            child.StandardInput.WriteLine("go");
            child.StandardInput.Flush();
        }

        var slots = new Dictionary<string, int>();
        foreach (var child in children)
        {
            while (child.StandardOutput.ReadLine() is { } line)
            {
                var parts = line.Split(' ');
                slots.Add(parts[0], int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture));
            }
            child.WaitForExit();
            Assert.Equal(0, child.ExitCode);
        }

        Assert.Equal(Processes * Each, slots.Count);
        Assert.Equal(Enumerable.Range(0, Processes * Each), slots.Values.Order());
        var allocator = new IdRangeAllocator(Base, Processes * Each, Slots);
        Assert.All(slots, s => Assert.Equal(s.Value, allocator.Find(s.Key)?.Slot));

        // Their owners have exited: every slot goes to the next sandbox that asks.
        var reclaimed = allocator.Allocate("after");
        Assert.NotNull(reclaimed.ReclaimedFrom);
        Assert.Equal(slots[reclaimed.ReclaimedFrom!], reclaimed.Range.Slot);
    }

    [Fact]
    public void An_allocation_must_wait_while_another_process_holds_the_lock()
    {
        var allocator = new IdRangeAllocator(Base, 4, Slots);
        allocator.Allocate("first");
        var holder = Process.Start("/usr/bin/flock", [Path.Combine(Slots, ".lock"), "/usr/bin/sleep", "2"]);
        _processes.Add(holder);
        WaitUntil(() => !CanTakeLock(Path.Combine(Slots, ".lock")), "flock(1) never took the lock");

        var clock = Stopwatch.StartNew();
        var second = allocator.Allocate("second");

        Assert.True(clock.ElapsedMilliseconds >= 500, $"allocated after {clock.ElapsedMilliseconds} ms while flock(1) held the lock");
        Assert.Equal(1, second.Range.Slot);
    }

    [Fact]
    public void The_same_sandbox_must_get_its_range_again_and_release_must_free_it()
    {
        var allocator = new IdRangeAllocator(Base, 4, Slots);
        var a = allocator.Allocate("a").Range;
        var b = allocator.Allocate("b").Range;

        Assert.Equal(a, allocator.Allocate("a").Range);
        Assert.Equal(b, allocator.Find("b"));
        Assert.True(allocator.Release("a"));
        Assert.False(allocator.Release("a"));
        Assert.Null(allocator.Find("a"));
        Assert.Equal(a.Slot, allocator.Allocate("c").Range.Slot);
        Assert.Contains("sandbox c\n", File.ReadAllText(Path.Combine(Slots, a.Slot.ToString(System.Globalization.CultureInfo.InvariantCulture))), StringComparison.Ordinal);
    }

    [Fact]
    public void Exhaustion_must_name_the_settings_and_a_dead_owners_slot_must_be_reclaimed()
    {
        var allocator = new IdRangeAllocator(Base, 1, Slots);
        var daemon = HostCommand.StartSleeper();
        _processes.Add(daemon);
        allocator.Allocate("old", ownerPid: daemon.Id);

        var full = Assert.Throws<IdRangesExhaustedException>(() => allocator.Allocate("new"));
        Assert.Contains("guest_uid_ranges", full.Message, StringComparison.Ordinal);
        Assert.Contains("guest_uid_base", full.Message, StringComparison.Ordinal);

        daemon.Kill();
        daemon.WaitForExit();
        var taken = allocator.Allocate("new");

        Assert.Equal(0, taken.Range.Slot);
        Assert.Equal("old", taken.ReclaimedFrom);
        Assert.Null(allocator.Find("old"));
    }

    [Fact]
    public void A_reused_pid_must_not_pass_for_the_owner()
    {
        var allocator = new IdRangeAllocator(Base, 1, Slots);
        allocator.Allocate("old");
        var slot = Path.Combine(Slots, "0");
        var text = File.ReadAllText(slot);
        var start = text.Split('\n').Single(l => l.StartsWith("start ", StringComparison.Ordinal));
        File.WriteAllText(slot, text.Replace(start, "start 1", StringComparison.Ordinal)); // our pid, another start time

        Assert.Equal("old", allocator.Allocate("new").ReclaimedFrom);
    }

    [Fact]
    public void A_slot_whose_ids_a_process_still_runs_with_must_not_be_reclaimed()
    {
        var allocator = new IdRangeAllocator(Base, 1, Slots);
        var daemon = HostCommand.StartSleeper();
        _processes.Add(daemon);
        allocator.Allocate("old", ownerPid: daemon.Id);
        // A guest host left behind by the dead daemon, running as an id of the slot's range.
        var orphan = HostCommand.StartSleeper("/usr/bin/setpriv", $"--reuid={Base + 7}", $"--regid={Base + 7}", "--clear-groups");
        _processes.Add(orphan);
        daemon.Kill();
        daemon.WaitForExit();
        WaitUntilRunningAs(orphan.Id, Base + 7);

        var full = Assert.Throws<IdRangesExhaustedException>(() => allocator.Allocate("new"));
        Assert.Contains("1 of them by a dead daemon whose processes still run", full.Message, StringComparison.Ordinal);

        orphan.Kill();
        orphan.WaitForExit();
        Assert.Equal("old", allocator.Allocate("new").ReclaimedFrom);
    }

    [Fact]
    public void An_unreadable_slot_file_must_be_reclaimed_when_no_process_uses_its_ids()
    {
        Directory.CreateDirectory(Slots);
        File.WriteAllText(Path.Combine(Slots, "0"), "garbage");
        var allocator = new IdRangeAllocator(Base, 1, Slots);

        Assert.Equal("(unreadable owner)", allocator.Allocate("new").ReclaimedFrom);
    }

    [Fact]
    public void A_block_past_the_last_uid_must_be_refused_naming_the_settings()
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new IdRangeAllocator(4_294_000_000, 100, Slots));
        Assert.Contains("guest_uid_base", error.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => new IdRangeAllocator(Base, 1, Slots).Allocate("bad id"));
    }

    private static void WaitUntilRunningAs(int pid, uint uid) =>
        WaitUntil(() => File.ReadAllText($"/proc/{pid}/status").Contains($"\nUid:\t{uid}\t", StringComparison.Ordinal),
            $"process {pid} never ran as {uid}");

    private static bool CanTakeLock(string path)
    {
        using var taken = WasmKata.Linux.Io.FileLock.Acquire(path, TimeSpan.Zero);
        return taken is not null;
    }

    // Polls a condition another process brings about; there is nothing to await for a foreign process's state.
    private static void WaitUntil(Func<bool> condition, string failure)
    {
        var deadline = DateTime.UtcNow + Await.Long;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, failure);
            Thread.Sleep(5);
        }
    }
}
