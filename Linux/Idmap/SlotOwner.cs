using System.Globalization;

namespace WasmKata.Linux.Idmap;

/// <summary>
/// Who holds a uid slot: the sandbox, and the daemon process that allocated it, named by pid, start time and boot
/// id so that a reused pid or a reboot (this directory need not be on a tmpfs) never passes for the owner.
/// </summary>
internal sealed record SlotOwner(string SandboxId, int Pid, long StartTicks, string BootId)
{
    private static readonly Lazy<string> s_bootId = new(() => File.ReadAllText("/proc/sys/kernel/random/boot_id").Trim());

    /// <summary>This boot's id (<c>/proc/sys/kernel/random/boot_id</c>).</summary>
    internal static string CurrentBootId => s_bootId.Value;

    /// <summary>The owner record for <paramref name="sandboxId"/> held by the running process <paramref name="pid"/>.</summary>
    internal static SlotOwner Of(string sandboxId, int pid) => ProcStat.TryRead(pid, out var stat)
        ? new SlotOwner(sandboxId, pid, stat.StartTicks, CurrentBootId)
        : throw new ArgumentException($"process {pid} (the owner of a uid range for sandbox {sandboxId}) is not running", nameof(pid));

    /// <summary>The slot file's text: one "key value" line each.</summary>
    internal string Format() => string.Create(CultureInfo.InvariantCulture,
        $"sandbox {SandboxId}\npid {Pid}\nstart {StartTicks}\nboot {BootId}\n");

    /// <summary>The owner a slot file names; null when the text is not one <see cref="Format"/> wrote.</summary>
    internal static SlotOwner? Parse(string text)
    {
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var space = line.IndexOf(' ', StringComparison.Ordinal);
            if (space <= 0)
                return null;
            fields[line[..space]] = line[(space + 1)..];
        }

        return fields.TryGetValue("sandbox", out var sandbox) && sandbox.Length > 0
            && fields.TryGetValue("pid", out var pid) && int.TryParse(pid, NumberStyles.None, CultureInfo.InvariantCulture, out var pidValue)
            && fields.TryGetValue("start", out var start) && long.TryParse(start, NumberStyles.None, CultureInfo.InvariantCulture, out var startValue)
            && fields.TryGetValue("boot", out var boot)
            ? new SlotOwner(sandbox, pidValue, startValue, boot)
            : null;
    }

    /// <summary>The owning process still runs: same boot, same pid, same start time, not a zombie.</summary>
    internal bool IsAlive() =>
        BootId == CurrentBootId
        && ProcStat.TryRead(Pid, out var stat)
        && stat.StartTicks == StartTicks
        && stat.State != 'Z'
        && !stat.IsExiting;
}
