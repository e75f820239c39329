using System.Collections;
using System.Globalization;
using System.Text;
using WasmKata.Core.Bootstrap;

namespace WasmKata.Core.Spare;

/// <summary>
/// Spares: shim daemons started ahead, which the next <c>start</c> of the same containerd, namespace, configuration and
/// shim build hands its socket to instead of starting a daemon cold. Shared by the native front and the daemon.
/// </summary>
internal static class SpareOptions
{
    /// <summary>
    /// How long an unadopted spare waits, in seconds (containerd passes its environment on); unset, 0 or off: no
    /// spares (they are opt-in), on: <see cref="DefaultSeconds"/>.
    /// </summary>
    public const string SwitchVariable = "WASMKATA_SPARE_SECONDS";

    /// <summary>How long a spare waits when <see cref="SwitchVariable"/> is <c>on</c>.</summary>
    public const int DefaultSeconds = 30;

    /// <summary>The key a spare was started for; <c>start</c> sets it in the spare's environment.</summary>
    public const string KeyVariable = "WASMKATA_SPARE_KEY";

    /// <summary>Why a cold daemon was started rather than a spare adopted (for its log).</summary>
    public const string MissedVariable = "WASMKATA_SPARE_MISSED";

    /// <summary>Where spares listen: root's only (0700), one socket per key.</summary>
    public const string Directory = "/run/wasmkata/spare";

    /// <summary>What a spare is called (its comm) until it is adopted; then it is a daemon like any other.</summary>
    public const string SpareName = "wasmkata-spare";

    /// <summary>The daemon's name (its comm) once adopted, as a cold daemon's is.</summary>
    public const string DaemonName = "wasmkata-shimd";

    /// <summary>How long an unadopted spare waits, from <see cref="SwitchVariable"/>: null when spares are off.</summary>
    public static TimeSpan? IdleTimeout()
    {
        var value = Environment.GetEnvironmentVariable(SwitchVariable);
        if (value == "on")
            return TimeSpan.FromSeconds(DefaultSeconds);
        return int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) && seconds > 0
            ? TimeSpan.FromSeconds(seconds)
            : null;
    }

    /// <summary>The spare socket for <paramref name="key"/>.</summary>
    public static string SocketPath(string key) => Path.Combine(Directory, key + ".sock");

    /// <summary>
    /// The key of a spare: a short hash of everything a daemon takes from the <c>start</c> that spawns it, so a spare
    /// only serves a sandbox it would have been started for anyway: containerd's address and events address,
    /// namespace and the rest of the flags, the configuration file, containerd's whole environment (which carries
    /// switches like WASMKATA_INSPECT), and the daemon build (its path and the times its file and folder were written).
    /// </summary>
    public static string Key(ShimArgs args, string configPath, string daemon)
    {
        var text = new StringBuilder();
        void Add(string part) => text.Append(part).Append('\0');
        Add("wasmkata-spare/1");
        Add(args.Address);
        Add(args.Namespace);
        Add(args.PublishBinary);
        Add(args.Debug ? "debug" : "");
        Add(configPath);
        Add(daemon);
        Add(File.GetLastWriteTimeUtc(daemon).Ticks.ToString(CultureInfo.InvariantCulture));
        Add(System.IO.Directory.GetLastWriteTimeUtc(Path.GetDirectoryName(daemon)!).Ticks.ToString(CultureInfo.InvariantCulture));
        var environment = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (DictionaryEntry entry in Environment.GetEnvironmentVariables())
            environment[(string)entry.Key] = (string?)entry.Value ?? "";
        foreach (var (name, value) in environment)
            Add(name + "=" + value);
        return Fnv1a64(Encoding.UTF8.GetBytes(text.ToString())).ToString("x16", CultureInfo.InvariantCulture);
    }

    // Not a security boundary (the socket directory is root's, and a spare checks every field of a hand-over), just a
    // short, stable name; FNV-1a keeps the native front free of a crypto library load.
    private static ulong Fnv1a64(ReadOnlySpan<byte> data)
    {
        var hash = 14695981039346656037UL;
        foreach (var b in data)
            hash = (hash ^ b) * 1099511628211UL;
        return hash;
    }
}
