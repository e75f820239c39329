using System.Globalization;
using WasmKata.Linux.Io;

namespace WasmKata.Linux.Idmap;

/// <summary>What <see cref="IdRangeAllocator.Allocate"/> gave: the range, and the sandbox it was taken back from, if any.</summary>
public sealed record IdRangeAllocation(IdRange Range, string? ReclaimedFrom);

/// <summary>No range is free: every slot is held by a live daemon (or a process still runs with its ids).</summary>
public sealed class IdRangesExhaustedException(string message) : IOException(message);

/// <summary>
/// Hands out one <see cref="IdRange"/> per sandbox from a reserved block of host ids, shared by every daemon on the
/// host: one file per slot in a directory (<c>/run/wasmkata/uids/SLOT</c>, naming the sandbox and its daemon), all
/// changes made under an flock of <c>.lock</c> there. A daemon that dies holding slots keeps them until some
/// allocation finds every unused slot taken; then a slot whose daemon is gone and whose ids no process runs with
/// is reclaimed.
/// </summary>
/// <remarks>
/// flock belongs to the open file description, and the lock file is opened afresh for every call, so threads of one
/// process exclude each other as processes do. The kernel drops the lock with its holder: a daemon killed while
/// allocating holds nobody up. Slot files are replaced by rename, so a reader sees a whole owner or none.
/// </remarks>
public sealed class IdRangeAllocator
{
    /// <summary>Where the daemons keep the slots.</summary>
    public const string DefaultDirectory = "/run/wasmkata/uids";

    /// <summary>The settings that size the block, named in errors.</summary>
    public const string SettingNames = "[wasmkata] guest_uid_base and guest_uid_ranges";

    /// <summary>The highest usable id: (uid_t)-1 means "no change" to the kernel.</summary>
    public const uint MaxHostId = 4294967294;

    private static readonly TimeSpan LockWait = TimeSpan.FromSeconds(30);

    private readonly string _directory;
    private readonly uint _firstHostId;
    private readonly int _ranges;

    /// <summary>A block of <paramref name="ranges"/> ranges of <see cref="IdRange.SandboxSize"/> ids from <paramref name="firstHostId"/>.</summary>
    public IdRangeAllocator(uint firstHostId, int ranges, string directory = DefaultDirectory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        if (ranges < 1 || firstHostId == 0 || firstHostId + ((ulong)ranges * IdRange.SandboxSize) - 1 > MaxHostId)
        {
            throw new ArgumentOutOfRangeException(nameof(ranges),
                $"{ranges} ranges of {IdRange.SandboxSize} ids from {firstHostId} do not fit between 1 and {MaxHostId} ({SettingNames})");
        }

        _directory = directory;
        _firstHostId = firstHostId;
        _ranges = ranges;
    }

    /// <summary>The range of <paramref name="slot"/>.</summary>
    public IdRange RangeOf(int slot) => new(slot, _firstHostId + ((uint)slot * IdRange.SandboxSize), IdRange.SandboxSize);

    /// <summary>
    /// The range of <paramref name="sandboxId"/>, held for process <paramref name="ownerPid"/> (0: this process):
    /// the one it already holds (its owner updated), else an unused slot, else one reclaimed from a dead daemon.
    /// Throws <see cref="IdRangesExhaustedException"/> when none is free.
    /// </summary>
    public IdRangeAllocation Allocate(string sandboxId, int ownerPid = 0)
    {
        ValidateSandboxId(sandboxId);
        var owner = SlotOwner.Of(sandboxId, ownerPid == 0 ? Environment.ProcessId : ownerPid);
        using var held = Lock();
        var slots = ReadSlots();
        foreach (var (slot, current) in slots)
        {
            if (current?.SandboxId == sandboxId)
            {
                WriteSlot(slot, owner);
                return new IdRangeAllocation(RangeOf(slot), null);
            }
        }

        for (var slot = 0; slot < _ranges; slot++)
        {
            if (!slots.ContainsKey(slot))
            {
                WriteSlot(slot, owner);
                return new IdRangeAllocation(RangeOf(slot), null);
            }
        }

        var busy = 0;
        foreach (var (slot, current) in slots)
        {
            if (current?.IsAlive() == true)
                continue;

            // The daemon is gone; a guest host it left behind would still run with the range's ids.
            if (RangeUsers.FindOne(RangeOf(slot)) is not null)
            {
                busy++;
                continue;
            }

            WriteSlot(slot, owner);
            return new IdRangeAllocation(RangeOf(slot), current?.SandboxId ?? "(unreadable owner)");
        }

        throw new IdRangesExhaustedException(string.Create(CultureInfo.InvariantCulture,
            $"no free guest uid range for sandbox {sandboxId}: all {_ranges} ranges of {IdRange.SandboxSize} ids from {_firstHostId} " +
            $"are held by running sandboxes ({busy} of them by a dead daemon whose processes still run); raise {SettingNames} " +
            $"(slots in {_directory})"));
    }

    /// <summary>The range <paramref name="sandboxId"/> holds, or null.</summary>
    public IdRange? Find(string sandboxId)
    {
        ValidateSandboxId(sandboxId);
        using var held = Lock();
        foreach (var (slot, owner) in ReadSlots())
        {
            if (owner?.SandboxId == sandboxId)
                return RangeOf(slot);
        }

        return null;
    }

    /// <summary>Frees the range of <paramref name="sandboxId"/> (at sandbox delete); false when it held none.</summary>
    public bool Release(string sandboxId)
    {
        ValidateSandboxId(sandboxId);
        using var held = Lock();
        var released = false;
        foreach (var (slot, owner) in ReadSlots())
        {
            if (owner?.SandboxId != sandboxId)
                continue;

            File.Delete(SlotPath(slot));
            released = true;
        }

        return released;
    }

    private static void ValidateSandboxId(string sandboxId)
    {
        ArgumentException.ThrowIfNullOrEmpty(sandboxId);
        if (sandboxId.Any(c => char.IsWhiteSpace(c) || char.IsControl(c)))
            throw new ArgumentException($"sandbox id '{sandboxId}' contains white space or control characters", nameof(sandboxId));
    }

    private FileLock Lock()
    {
        if (!Directory.Exists(_directory))
            Directory.CreateDirectory(_directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);

        var path = Path.Combine(_directory, ".lock");
        return FileLock.Acquire(path, LockWait)
            ?? throw new IOException($"timed out after {LockWait.TotalSeconds:0} s waiting for the uid slot lock {path}");
    }

    /// <summary>Every slot file of this block, with its owner (null when unreadable).</summary>
    private SortedDictionary<int, SlotOwner?> ReadSlots()
    {
        var slots = new SortedDictionary<int, SlotOwner?>();
        foreach (var path in Directory.EnumerateFiles(_directory))
        {
            var name = Path.GetFileName(path);
            if (!int.TryParse(name, NumberStyles.None, CultureInfo.InvariantCulture, out var slot) || slot >= _ranges
                || name != slot.ToString(CultureInfo.InvariantCulture))
            {
                continue;
            }

            string text;
            try
            {
                text = File.ReadAllText(path);
            }
            catch (FileNotFoundException)
            {
                continue;
            }

            slots[slot] = SlotOwner.Parse(text);
        }

        return slots;
    }

    private void WriteSlot(int slot, SlotOwner owner)
    {
        var path = SlotPath(slot);
        var temp = Path.Combine(_directory, string.Create(CultureInfo.InvariantCulture, $".{slot}.{Environment.ProcessId}.tmp"));
        File.WriteAllText(temp, owner.Format());
        File.Move(temp, path, overwrite: true);
    }

    private string SlotPath(int slot) => Path.Combine(_directory, slot.ToString(CultureInfo.InvariantCulture));
}
