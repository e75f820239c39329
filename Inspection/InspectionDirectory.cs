using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using WasmKata.Linux;

namespace WasmKata.Inspection;

/// <summary>
/// One live shim's entry: where its inspection system listens (port 0: dormant, ring its bell first), and how to tell
/// its pid was not reused.
/// </summary>
public sealed record ShimEntry(int Pid, long ProcessStart, int Port, string Id, string Namespace, DateTimeOffset RegisteredAt)
{
    /// <summary>Whether the shim has not started its inspection system yet (<see cref="InspectionBell"/>).</summary>
    [JsonIgnore]
    public bool Dormant => Port == 0;
}

/// <summary>
/// The live-address directory (<c>/run/wasmkata/inspect</c>): mode 0700, root's. It holds <c>identity.pfx</c>, the
/// host's TLS key every shim and the CLI present (mutual TLS, pinned), one <c>PID.json</c> per live shim and, for a
/// dormant shim, its <c>PID.bell</c>.
/// Entries of dead processes are removed by whoever lists them, so a crashed shim blocks nobody.
/// Shared with the CLI as source.
/// </summary>
internal sealed class InspectionDirectory
{
    /// <summary>Where shims register unless told otherwise.</summary>
    public const string DefaultPath = "/run/wasmkata/inspect";

    private const string IdentityFile = "identity.pfx";
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode OwnerReadWrite = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    private InspectionDirectory(string path) => Path = path;

    /// <summary>The directory.</summary>
    public string Path { get; }

    /// <summary>Creates the directory (0700) if needed and takes away any group or other access it has.</summary>
    public static InspectionDirectory Create(string path)
    {
        Directory.CreateDirectory(path, OwnerOnly);
        if ((File.GetUnixFileMode(path) & ~OwnerOnly) != 0)
            File.SetUnixFileMode(path, OwnerOnly);
        return new InspectionDirectory(path);
    }

    /// <summary>The directory if it exists (the CLI never creates it); null otherwise.</summary>
    public static InspectionDirectory? Open(string path) => Directory.Exists(path) ? new InspectionDirectory(path) : null;

    /// <summary>The host's inspection keys, created by the first shim that needs them; racing shims agree on one file.</summary>
    public InspectionKeys LoadOrCreateKeys()
    {
        var file = System.IO.Path.Combine(Path, IdentityFile);
        if (!File.Exists(file))
        {
            var temp = $"{file}.{Environment.ProcessId}.tmp";
            WriteOwnerOnly(temp, InspectionKeys.CreatePfx());
            try
            {
                // No overwrite: of two shims creating keys at once, the first file wins and both load it.
                File.Move(temp, file, overwrite: false);
            }
            catch (IOException) when (File.Exists(file))
            {
                File.Delete(temp);
            }
        }
        return InspectionKeys.Load(File.ReadAllBytes(file));
    }

    /// <summary>The host's keys; throws <see cref="UnauthorizedAccessException"/> for a caller that may not read them.</summary>
    public InspectionKeys? LoadKeys()
    {
        var file = System.IO.Path.Combine(Path, IdentityFile);
        return File.Exists(file) ? InspectionKeys.Load(File.ReadAllBytes(file)) : null;
    }

    /// <summary>Publishes <paramref name="entry"/> atomically (written aside, then renamed into place).</summary>
    public void Register(ShimEntry entry)
    {
        var file = EntryPath(entry.Pid);
        var temp = file + ".tmp";
        WriteOwnerOnly(temp, JsonSerializer.SerializeToUtf8Bytes(entry, DirectoryJson.Default.ShimEntry));
        File.Move(temp, file, overwrite: true);
    }

    /// <summary>Removes the entry of <paramref name="pid"/>, if any.</summary>
    public void Remove(int pid) => File.Delete(EntryPath(pid));

    /// <summary>Where the bell of <paramref name="pid"/>'s shim is while it is dormant.</summary>
    public string BellPath(int pid) => System.IO.Path.Combine(Path, pid.ToString(CultureInfo.InvariantCulture) + ".bell");

    /// <summary>Entries of live shims, oldest first; entries of dead processes (or unreadable ones) are deleted.</summary>
    public IReadOnlyList<ShimEntry> LiveEntries()
    {
        var live = new List<ShimEntry>();
        foreach (var file in Directory.EnumerateFiles(Path, "*.json"))
        {
            ShimEntry? entry;
            try
            {
                entry = JsonSerializer.Deserialize(File.ReadAllBytes(file), DirectoryJson.Default.ShimEntry);
            }
            catch (FileNotFoundException)
            {
                continue; // its shim removed it while we looked
            }
            catch (JsonException)
            {
                entry = null; // entries are renamed into place whole, so this one is garbage
            }
            if (entry is not null && IsAlive(entry.Pid, entry.ProcessStart))
            {
                live.Add(entry);
                continue;
            }
            try
            {
                File.Delete(file);
                // A dead shim's bell too (the file is named after its pid).
                File.Delete(System.IO.Path.ChangeExtension(file, ".bell"));
            }
            catch (IOException)
            {
                // Another lister removed it first.
            }
        }
        return live.OrderBy(e => e.RegisteredAt).ThenBy(e => e.Pid).ToList();
    }

    /// <summary>Whether <paramref name="pid"/> is the process that started at <paramref name="processStart"/> (not a reuse).</summary>
    public static bool IsAlive(int pid, long processStart) => pid > 0 && ProcessStart(pid) == processStart;

    /// <summary>When <paramref name="pid"/> started, in clock ticks since boot, or -1 when there is no such process.</summary>
    public static long ProcessStart(int pid) => ProcStat.TryRead(pid, out var stat) ? stat.StartTicks : -1;

    private string EntryPath(int pid) => System.IO.Path.Combine(Path, pid.ToString(CultureInfo.InvariantCulture) + ".json");

    private static void WriteOwnerOnly(string path, byte[] content)
    {
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, UnixCreateMode = OwnerReadWrite };
        using var stream = new FileStream(path, options);
        stream.Write(content);
    }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(ShimEntry))]
internal sealed partial class DirectoryJson : JsonSerializerContext;
