using Tomlyn;
using Tomlyn.Model;
using Tomlyn.Serialization;

namespace WasmKata.Config;

/// <summary>
/// Finds and reads Kata-style <c>configuration.toml</c>. Strict: an unknown section or key, a value of the wrong type
/// or out of range, or a runtime other than <c>wasm_container</c> is an error naming the file, the key and the value.
/// </summary>
public static class ConfigLoader
{
    /// <summary>Where Kata looks when nothing else names a file.</summary>
    public const string DefaultPath = "/etc/kata-containers/configuration.toml";

    /// <summary>The environment variable Kata reads first.</summary>
    public const string EnvironmentVariable = "KATA_CONF_FILE";

    /// <summary>
    /// The file to read: the runtime options' path (which must exist), else <c>KATA_CONF_FILE</c> (which must exist),
    /// else the default path if present; null means built-in defaults.
    /// </summary>
    public static string? Locate(string? optionsPath, string? environmentPath, string defaultPath = DefaultPath)
    {
        foreach (var (path, origin) in new[] { (optionsPath, "runtime options"), (environmentPath, EnvironmentVariable) })
        {
            if (string.IsNullOrEmpty(path))
                continue;
            return File.Exists(path) ? path : throw new ConfigException($"configuration file {path} (from {origin}) does not exist");
        }
        return File.Exists(defaultPath) ? defaultPath : null;
    }

    /// <summary>Reads the file <see cref="Locate"/> picks, or the defaults.</summary>
    public static ShimConfig Load(string? optionsPath) =>
        Locate(optionsPath, Environment.GetEnvironmentVariable(EnvironmentVariable)) is { } path ? LoadFile(path) : new ShimConfig();

    /// <summary>Reads and validates one file.</summary>
    public static ShimConfig LoadFile(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ConfigException($"{path}: cannot read: {e.Message}", e);
        }
        return Parse(text, path);
    }

    /// <summary>Validates <paramref name="text"/> as if read from <paramref name="path"/>.</summary>
    public static ShimConfig Parse(string text, string path)
    {
        TomlTable root;
        try
        {
            root = TomlSerializer.Deserialize(text, TomlModelContext.Default.TomlTable)!;
        }
        catch (TomlException e)
        {
            throw new ConfigException($"{path}: not valid TOML: {e.Message}", e);
        }
        var reader = new Reader(path);
        var config = new ShimConfig { SourcePath = path };
        foreach (var (section, value) in root)
        {
            var table = reader.Table(section, value);
            config = section switch
            {
                "runtime" => ReadRuntime(reader, table, config),
                "wasmkata" => ReadWasmKata(reader, table, config),
                _ => throw reader.Unknown(section, value),
            };
        }
        return config;
    }

    private static ShimConfig ReadRuntime(Reader reader, TomlTable table, ShimConfig config)
    {
        foreach (var (key, value) in table)
        {
            var name = "runtime." + key;
            config = key switch
            {
                "name" => config with { RuntimeName = reader.OneOf(name, value, ShimConfig.WasmRuntime) },
                "enable_debug" => config with { LogLevel = reader.Bool(name, value) ? "debug" : config.LogLevel },
                _ => throw reader.Unknown(name, value),
            };
        }
        return config;
    }

    private static ShimConfig ReadWasmKata(Reader reader, TomlTable table, ShimConfig config)
    {
        foreach (var (key, value) in table)
        {
            var name = "wasmkata." + key;
            config = key switch
            {
                "log_level" => config with { LogLevel = reader.OneOf(name, value, "debug", "info", "warn", "error") },
                "cgroup_driver" => config with { CgroupDriver = reader.OneOf(name, value, "cgroupfs", "systemd") },
                "systemd_address" => config with { SystemdAddress = reader.DBusAddressOrEmpty(name, value) },
                "sandbox_memory_overhead_mb" => config with { SandboxMemoryOverheadMb = (int)reader.Int(name, value, 0, 1 << 20) },
                "drain_timeout_ms" => config with { DrainTimeoutMs = (int)reader.Int(name, value, 0, 600_000) },
                "guest_uid_base" => config with { GuestUidBase = reader.Int(name, value, MinGuestUidBase, MaxGuestUid) },
                "guest_uid_ranges" => config with { GuestUidRanges = (int)reader.Int(name, value, 1, MaxGuestUid / GuestUidRangeSize) },
                "guest_isolation" => config with { GuestIsolation = reader.OneOf(name, value, "thread", "process") },
                "guest_host_uid" => throw reader.Removed(name, value,
                    "each sandbox's guest hosts run as the first id of the sandbox's own range (wasmkata.guest_uid_base, wasmkata.guest_uid_ranges); delete the line"),
                "guest_host_seccomp" => config with { GuestHostSeccomp = reader.OneOf(name, value, "errno", "kill", "log") },
                "engine" => ReadEngine(reader, reader.Table(name, value), config),
                _ => throw reader.Unknown(name, value),
            };
        }
        return CheckGuestUidBlock(config, reader);
    }

    // Each sandbox's range is 65536 ids (WasmKata.Linux.Idmap.IdRange.SandboxSize); the block must end at or below
    // 4294967294, since (uid_t)-1 means "unchanged" to the kernel, and start above the ids of the host's own users.
    private const long GuestUidRangeSize = 65536;
    private const long MinGuestUidBase = 65536;
    private const long MaxGuestUid = 4294967294;

    private static ShimConfig CheckGuestUidBlock(ShimConfig config, Reader reader)
    {
        var last = config.GuestUidBase + (config.GuestUidRanges * GuestUidRangeSize) - 1;
        return last <= MaxGuestUid ? config : throw reader.Conflict(
            $"\"wasmkata.guest_uid_base\" {config.GuestUidBase} plus \"wasmkata.guest_uid_ranges\" {config.GuestUidRanges} ranges of " +
            $"{GuestUidRangeSize} ids end at uid {last}, past {MaxGuestUid}");
    }

    private static ShimConfig ReadEngine(Reader reader, TomlTable table, ShimConfig config)
    {
        foreach (var (key, value) in table)
        {
            var name = "wasmkata.engine." + key;
            config = key switch
            {
                "compile_cache_dir" => config with { CompileCacheDir = reader.AbsolutePathOrEmpty(name, value) },
                "compile_cache_max_mb" => config with { CompileCacheMaxMb = (int)reader.Int(name, value, 1, 1 << 20) },
                "baseline_compile_min_mb" => config with { BaselineCompileMinMb = (int)reader.Int(name, value, 0, 1 << 20) },
                "pooling_allocator" => config with { PoolingAllocator = reader.Bool(name, value) },
                "outgoing_http" => config with { OutgoingHttp = reader.OneOf(name, value, "annotated", "off") },
                "epoch_tick_ms" => config with { EpochTickMs = (int)reader.Int(name, value, 1, 1000) },
                _ => throw reader.Unknown(name, value),
            };
        }
        return config;
    }

    /// <summary>Typed reads that fail with the file, key and value in the message.</summary>
    private sealed class Reader(string path)
    {
        public ConfigException Unknown(string key, object value) =>
            new($"{path}: unknown key \"{key}\" (value {Show(value)})");

        // A key that an older version read: refused like an unknown one, but saying what replaced it, so a file
        // written for the old meaning never runs with a setting silently ignored.
        public ConfigException Removed(string key, object value, string instead) =>
            new($"{path}: \"{key}\" (value {Show(value)}) is no longer a setting: {instead}");

        public TomlTable Table(string key, object value) =>
            value as TomlTable ?? throw Bad(key, value, "a table");

        public bool Bool(string key, object value) => value is bool b ? b : throw Bad(key, value, "true or false");

        public long Int(string key, object value, long min, long max) =>
            value is long n && n >= min && n <= max ? n : throw Bad(key, value, $"an integer from {min} to {max}");

        public string OneOf(string key, object value, params string[] allowed) =>
            value is string s && allowed.Contains(s) ? s : throw Bad(key, value, "one of " + string.Join(", ", allowed.Select(a => $"\"{a}\"")));

        public string AbsolutePathOrEmpty(string key, object value) =>
            value is string s && (s.Length == 0 || Path.IsPathRooted(s)) ? s : throw Bad(key, value, "an absolute path or \"\"");

        public string DBusAddressOrEmpty(string key, object value) =>
            value is string s && (s.Length == 0 || s.StartsWith("unix:", StringComparison.Ordinal)) ? s : throw Bad(key, value, "a D-Bus address such as \"unix:path=/run/systemd/private\", or \"\"");

        public ConfigException Conflict(string what) => new($"{path}: {what}");

        private ConfigException Bad(string key, object value, string expected) =>
            new($"{path}: bad value for \"{key}\": {Show(value)} (expected {expected})");

        private static string Show(object value) => value switch
        {
            string s => $"\"{s}\"",
            bool b => b ? "true" : "false",
            TomlTable => "a table",
            _ => Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture) ?? "?",
        };
    }
}

/// <summary>A configuration that cannot be used; the message names the file, key and value.</summary>
public sealed class ConfigException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>The TOML model, read without reflection (the shim is compiled ahead of time).</summary>
[TomlSerializable(typeof(TomlTable))]
internal sealed partial class TomlModelContext : TomlSerializerContext;
