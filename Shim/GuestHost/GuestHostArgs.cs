using System.Globalization;
using WasmKata.Linux.Confinement;

namespace WasmKata.Shim.GuestHost;

/// <summary>
/// The command line of the <c>guest-host</c> mode: who to become, which inherited fds hold the rootfs, the module and
/// the report pipe, and the guest's own arguments after <c>--</c>. Never paths: the privileged side resolves those.
/// </summary>
internal sealed record GuestHostArgs
{
    public uint Uid { get; init; }
    public uint Gid { get; init; }
    public int RootfsFd { get; init; } = -1;
    public bool RootfsReadOnly { get; init; }
    public int ModuleFd { get; init; } = -1;
    public int ReportFd { get; init; } = -1;
    public bool Stdin { get; init; }
    public long? MemoryLimitBytes { get; init; }
    public SeccompDefault Seccomp { get; init; } = SeccompDefault.Errno;
    public bool Stage2 { get; init; }
    public IReadOnlyList<KeyValuePair<string, string>> Env { get; init; } = [];
    public IReadOnlyList<string> GuestArgs { get; init; } = [];

    /// <summary>The daemon's command pipe; set, the guest host reports "ready" and waits for "start" (GuestProcess).</summary>
    public int ControlFd { get; init; } = -1;
    public int StdoutFd { get; init; } = 1;
    public int StderrFd { get; init; } = 2;
    public string Cwd { get; init; } = "/";
    public IReadOnlyList<int> NamespaceFds { get; init; } = [];
    public IReadOnlyList<HandedPreopen> Preopens { get; init; } = [];
    public long? CpuQuotaUs { get; init; }
    public long CpuPeriodUs { get; init; }

    /// <summary>The module's compile cache entry, handed over read-only by the daemon; -1: none, the guest host compiles.</summary>
    public int CompiledFd { get; init; } = -1;

    /// <summary>The module's SHA-256, as the daemon computed it (names the entry's code in logs).</summary>
    public string CompiledDigest { get; init; } = "";

    /// <summary>The daemon's pooling allocator settings (slots, max memory bytes), which the entry's code depends on; null: off.</summary>
    public (int Slots, long MaxMemoryBytes)? Pooling { get; init; }

    /// <summary>The container asked for outgoing HTTP: inet sockets, TCP connect and the resolver's files are allowed.</summary>
    public bool Http { get; init; }

    /// <summary>Parses the arguments after the word <c>guest-host</c>; throws <see cref="ArgumentException"/> saying what is wrong.</summary>
    public static GuestHostArgs Parse(IReadOnlyList<string> args)
    {
        var result = new GuestHostArgs();
        var env = new List<KeyValuePair<string, string>>();
        var namespaces = new List<int>();
        var preopens = new List<HandedPreopen>();
        var i = 0;
        for (; i < args.Count && args[i] != "--"; i++)
        {
            var flag = args[i];
            string Value() => i + 1 < args.Count ? args[++i] : throw new ArgumentException($"{flag} needs a value");
            result = flag switch
            {
                "-uid" => result with { Uid = Id(flag, Value()) },
                "-gid" => result with { Gid = Id(flag, Value()) },
                "-rootfs-fd" => result with { RootfsFd = Fd(flag, Value()) },
                "-rootfs-readonly" => result with { RootfsReadOnly = true },
                "-module-fd" => result with { ModuleFd = Fd(flag, Value()) },
                "-report-fd" => result with { ReportFd = Fd(flag, Value()) },
                "-stdin" => result with { Stdin = true },
                "-memory-limit" => result with { MemoryLimitBytes = long.Parse(Value(), CultureInfo.InvariantCulture) },
                "-seccomp" => result with { Seccomp = SeccompMode(Value()) },
                "-env" => AddEnv(result, env, Value()),
                "-stage2" => result with { Stage2 = true },
                "-control-fd" => result with { ControlFd = Fd(flag, Value()) },
                "-stdout-fd" => result with { StdoutFd = Fd(flag, Value()) },
                "-stderr-fd" => result with { StderrFd = Fd(flag, Value()) },
                "-cwd" => result with { Cwd = Value() },
                "-ns-fd" => Add(result, namespaces, Fd(flag, Value())),
                "-preopen" => Add(result, preopens, HandedPreopen.Parse(Value())),
                "-cpu" => Cpu(result, Value()),
                "-compiled" => Compiled(result, Value()),
                "-pooling" => PoolingOf(result, Value()),
                "-http" => result with { Http = true },
                _ => throw new ArgumentException($"unknown guest-host flag \"{flag}\""),
            };
        }
        if (i >= args.Count - 1)
            throw new ArgumentException("guest-host needs the guest's arguments after --, at least its name");
        result = result with { Env = env, NamespaceFds = namespaces, Preopens = preopens, GuestArgs = args.Skip(i + 1).ToArray() };
        if (result.Uid == 0 || result.Gid == 0)
            throw new ArgumentException("guest-host needs -uid and -gid, neither 0");
        if (result.RootfsFd < 0 || result.ModuleFd < 0 || result.ReportFd < 0)
            throw new ArgumentException("guest-host needs -rootfs-fd, -module-fd and -report-fd");
        return result;
    }

    /// <summary>The same arguments for stage 2, the exec of the confined main thread.</summary>
    public IReadOnlyList<string> ToStage2Args(string program)
    {
        var list = new List<string>
        {
            program, "guest-host", "-stage2",
            "-uid", Num(Uid), "-gid", Num(Gid), "-rootfs-fd", Num(RootfsFd), "-module-fd", Num(ModuleFd),
            "-report-fd", Num(ReportFd), "-seccomp", Seccomp.ToString().ToLowerInvariant(),
        };
        if (RootfsReadOnly)
            list.Add("-rootfs-readonly");
        if (Stdin)
            list.Add("-stdin");
        if (MemoryLimitBytes is { } limit)
            list.AddRange(["-memory-limit", limit.ToString(CultureInfo.InvariantCulture)]);
        foreach (var (key, value) in Env)
            list.AddRange(["-env", $"{key}={value}"]);
        if (ControlFd >= 0)
            list.AddRange(["-control-fd", Num(ControlFd)]);
        // Only when moved: the flags take descriptors above 2, and 1 and 2 are the defaults.
        if (StdoutFd != 1)
            list.AddRange(["-stdout-fd", Num(StdoutFd)]);
        if (StderrFd != 2)
            list.AddRange(["-stderr-fd", Num(StderrFd)]);
        list.AddRange(["-cwd", Cwd]);
        // Namespaces were entered in stage 1 and their descriptors closed: stage 2 gets none.
        foreach (var preopen in Preopens)
            list.AddRange(["-preopen", preopen.ToString()]);
        if (CpuQuotaUs is { } quota)
            list.AddRange(["-cpu", $"{Num(quota)}:{Num(CpuPeriodUs)}"]);
        if (CompiledFd >= 0)
            list.AddRange(["-compiled", $"{Num(CompiledFd)}:{CompiledDigest}"]);
        if (Pooling is var (slots, maxMemory))
            list.AddRange(["-pooling", $"{Num(slots)}:{Num(maxMemory)}"]);
        if (Http)
            list.Add("-http");
        list.Add("--");
        list.AddRange(GuestArgs);
        return list;
    }

    private static string Num(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static uint Id(string flag, string value) => uint.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var id)
        ? id
        : throw new ArgumentException($"{flag} \"{value}\" is not a number");

    private static int Fd(string flag, string value) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var fd) && fd > 2
            ? fd
            : throw new ArgumentException($"{flag} \"{value}\" is not a descriptor above 2");

    private static SeccompDefault SeccompMode(string value) => value switch
    {
        "errno" => SeccompDefault.Errno,
        "kill" or "killprocess" => SeccompDefault.KillProcess,
        "log" => SeccompDefault.Log,
        _ => throw new ArgumentException($"-seccomp \"{value}\": use errno, kill or log"),
    };

    private static GuestHostArgs Add<T>(GuestHostArgs result, List<T> list, T item)
    {
        list.Add(item);
        return result;
    }

    private static GuestHostArgs Cpu(GuestHostArgs result, string value)
    {
        var parts = value.Split(':');
        if (parts.Length != 2 || !long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var quota)
            || !long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var period))
        {
            throw new ArgumentException($"-cpu \"{value}\" is not QUOTA_US:PERIOD_US");
        }
        return result with { CpuQuotaUs = quota, CpuPeriodUs = period };
    }

    private static GuestHostArgs Compiled(GuestHostArgs result, string value)
    {
        var colon = value.IndexOf(':', StringComparison.Ordinal);
        var digest = colon < 0 ? "" : value[(colon + 1)..];
        if (colon < 0 || digest.Length != 64 || !digest.All(char.IsAsciiHexDigitLower))
            throw new ArgumentException($"-compiled \"{value}\" is not FD:SHA256");
        return result with { CompiledFd = Fd("-compiled", value[..colon]), CompiledDigest = digest };
    }

    private static GuestHostArgs PoolingOf(GuestHostArgs result, string value)
    {
        var parts = value.Split(':');
        if (parts.Length != 2 || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var slots) || slots <= 0
            || !long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var maxMemory))
        {
            throw new ArgumentException($"-pooling \"{value}\" is not SLOTS:MAX_MEMORY_BYTES");
        }
        return result with { Pooling = (slots, maxMemory) };
    }

    private static GuestHostArgs AddEnv(GuestHostArgs result, List<KeyValuePair<string, string>> env, string entry)
    {
        var eq = entry.IndexOf('=', StringComparison.Ordinal);
        if (eq <= 0)
            throw new ArgumentException($"-env \"{entry}\" is not KEY=VALUE");
        env.Add(new(entry[..eq], entry[(eq + 1)..]));
        return result;
    }
}

/// <summary>A bind mount handed over as a descriptor: <c>FD:ro:/guest/path</c> or <c>FD:rw:/guest/path</c>.</summary>
internal sealed record HandedPreopen(int Fd, bool ReadOnly, string GuestPath)
{
    public static HandedPreopen Parse(string value)
    {
        var parts = value.Split(':', 3);
        if (parts.Length != 3 || parts[1] is not ("ro" or "rw") || !parts[2].StartsWith('/')
            || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var fd) || fd <= 2)
        {
            throw new ArgumentException($"-preopen \"{value}\" is not FD:ro|rw:/guest/path");
        }
        return new HandedPreopen(fd, parts[1] == "ro", parts[2]);
    }

    public override string ToString() => $"{Fd.ToString(CultureInfo.InvariantCulture)}:{(ReadOnly ? "ro" : "rw")}:{GuestPath}";
}
