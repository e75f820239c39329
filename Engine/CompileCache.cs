using System.Buffers.Binary;
using System.Security.Cryptography;
using Microsoft.Win32.SafeHandles;
using Serilog;
using WasmKata.Linux.Io;
using Wasmtime;
using Wasmtime.Components;

namespace WasmKata.Engine;

/// <summary>
/// Compiled modules on disk, shared by every shim on the host: one file per module digest and engine settings,
/// checked before Wasmtime sees it, written atomically, compiled by one process at a time, and kept under a size
/// limit by evicting the entries used least recently.
/// </summary>
/// <remarks>
/// An entry is <c>WKCWASM2</c> (a core module) or <c>WKCCOMP2</c> (a component), the SHA-256 of the engine settings, the payload's length and SHA-256, then Wasmtime's
/// serialized module. Anything that does not match (torn, truncated, flipped, another engine's) is deleted and
/// rebuilt, and so is a payload Wasmtime refuses. The directory is the owner's alone: whoever can write to it can
/// make a shim run their native code, so one that others may write to is not used at all.
/// </remarks>
internal sealed class CompileCache
{
    internal const int HeaderLength = 8 + 32 + 8 + 32;
    private const string EntryExtension = ".cwasm";
    private const string TempExtension = ".tmp";
    private static readonly TimeSpan LockWait = TimeSpan.FromMinutes(10);
    private static readonly TimeSpan AbandonedTemp = TimeSpan.FromHours(1);

    private readonly EngineTier _tier;
    private readonly byte[] _settingsHash;
    private readonly string _settingsKey;
    private readonly ILogger _log;

    public CompileCache(EngineTier tier, string directory, long maxBytes, ILogger log)
    {
        _tier = tier;
        var engineSettings = tier.SettingsKey;
        Directory = directory;
        MaxBytes = maxBytes;
        _settingsHash = HashSettings(engineSettings);
        _settingsKey = Convert.ToHexStringLower(_settingsHash)[..16];
        _log = log;
    }

    public string Directory { get; }

    public long MaxBytes { get; }

    private static ReadOnlySpan<byte> ModuleMagic => "WKCWASM2"u8;

    private static ReadOnlySpan<byte> ComponentMagic => "WKCCOMP2"u8;

    private string LockDirectory => Path.Combine(Directory, ".locks");

    /// <summary>Creates the directory (owner-only); false, with a warning, when it cannot be used safely.</summary>
    public bool Prepare()
    {
        try
        {
            System.IO.Directory.CreateDirectory(Directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            System.IO.Directory.CreateDirectory(LockDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            var mode = File.GetUnixFileMode(Directory);
            if ((mode & (UnixFileMode.GroupWrite | UnixFileMode.OtherWrite)) != 0)
            {
                _log.Warning("module cache: {CacheDir} is writable by others ({Mode}); compiling without it", Directory, mode);
                return false;
            }
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _log.Warning("module cache: cannot use {CacheDir}: {Error}; compiling without it", Directory, e.Message);
            return false;
        }
    }

    /// <summary>The entry of the module with SHA-256 <paramref name="digest"/> under this engine's settings.</summary>
    public string EntryPath(string digest) => Path.Combine(Directory, $"{digest}-{_settingsKey}{EntryExtension}");

    /// <summary>The entry of <paramref name="digest"/> in <paramref name="directory"/> for engine settings <paramref name="settingsKey"/>, without an engine.</summary>
    public static string EntryPathFor(string directory, string settingsKey, string digest) =>
        Path.Combine(directory, $"{digest}-{Convert.ToHexStringLower(HashSettings(settingsKey))[..16]}{EntryExtension}");

    private static byte[] HashSettings(string settingsKey) => SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(settingsKey));

    /// <summary>
    /// The compiled <paramref name="kind"/> in <paramref name="entry"/>, its use recorded; null when there is none, and
    /// when it is not sound, in which case it is deleted.
    /// </summary>
    public CompiledWasm? TryLoad(string entry, WasmKind kind)
    {
        byte[] file;
        try
        {
            file = File.ReadAllBytes(entry);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _log.Warning("module cache: cannot read {CachePath}: {Error}; compiling instead", entry, e.Message);
            return null;
        }

        if (Check(file, kind) is { } fault)
        {
            _log.Warning("module cache: refused {CachePath} ({Fault}); deleting it and compiling again", entry, fault);
            Delete(entry);
            return null;
        }
        CompiledWasm code;
        try
        {
            var payload = file.AsSpan(HeaderLength);
            code = kind == WasmKind.Component
                ? new CompiledWasm(Component.Deserialize(_tier.Engine, payload), _tier)
                : new CompiledWasm(Module.Deserialize(_tier.Engine, Path.GetFileNameWithoutExtension(entry), payload), _tier);
        }
        catch (WasmtimeException e)
        {
            // Another Wasmtime build or engine configuration: stale, whatever our header says.
            _log.Warning("module cache: refused {CachePath} (Wasmtime does not load it: {Error}); deleting it and compiling again", entry, e.Message.Trim());
            Delete(entry);
            return null;
        }
        Touch(entry);
        return code;
    }

    /// <summary>
    /// <paramref name="entry"/> opened read-only and checked whole through that descriptor (format, engine settings,
    /// length, checksum), its use recorded: what a guest host may be handed, since the file behind an open descriptor is
    /// the one checked (entries are replaced by rename, never rewritten). Null when there is none, and when it is not
    /// sound, in which case it is deleted as <see cref="TryLoad"/> does.
    /// </summary>
    public SafeFileHandle? OpenChecked(string entry, WasmKind kind)
    {
        SafeFileHandle handle;
        try
        {
            handle = File.OpenHandle(entry, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _log.Warning("module cache: cannot read {CachePath}: {Error}; compiling instead", entry, e.Message);
            return null;
        }
        string? fault;
        try
        {
            fault = CheckStreamed(handle, kind);
        }
        catch (IOException e)
        {
            fault = $"unreadable: {e.Message}";
        }
        if (fault is not null)
        {
            handle.Dispose();
            _log.Warning("module cache: refused {CachePath} ({Fault}); deleting it and compiling again", entry, fault);
            Delete(entry);
            return null;
        }
        Touch(entry);
        return handle;
    }

    // Check, reading through the descriptor a chunk at a time (an entry of a big module is over 100 MB).
    private string? CheckStreamed(SafeFileHandle handle, WasmKind kind)
    {
        var length = RandomAccess.GetLength(handle);
        var header = new byte[HeaderLength];
        if (length < HeaderLength || RandomAccess.Read(handle, header, 0) != HeaderLength)
            return "not a cache entry of this format";
        var fault = CheckHeader(header, length, kind);
        if (fault is not null)
            return fault;
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[1 << 20];
        long offset = HeaderLength;
        while (offset < length)
        {
            var n = RandomAccess.Read(handle, buffer, offset);
            if (n <= 0)
                return "truncated or extended";
            hash.AppendData(buffer, 0, n);
            offset += n;
        }
        return hash.GetHashAndReset().AsSpan().SequenceEqual(header.AsSpan(48, 32)) ? null : "checksum mismatch";
    }

    /// <summary>
    /// Takes the lock of <paramref name="digest"/>'s entry, waiting while another process (or thread) compiles it;
    /// null when it cannot be had, and the caller compiles unlocked.
    /// </summary>
    public FileLock? Lock(string digest)
    {
        // 256 lock files, by the digest's first byte, never deleted: removing a lock file someone waits on would let a
        // third process lock a new file of the same name. Two modules that share a stripe only take turns.
        var path = Path.Combine(LockDirectory, digest[..2] + ".lock");
        try
        {
            var held = FileLock.Acquire(path, LockWait);
            if (held is null)
                _log.Warning("module cache: waited {Wait} for {Lock}; compiling without it", LockWait, path);
            return held;
        }
        catch (IOException e)
        {
            _log.Warning("module cache: cannot lock {Lock}: {Error}; compiling without it", path, e.Message);
            return null;
        }
    }

    /// <summary>
    /// Takes the optimising lock of <paramref name="digest"/> without waiting: null when another shim (or thread) holds
    /// it, that is, compiles the module's optimised code now. Not the compile lock: the shims waiting for a module's
    /// first (baseline) code do not wait for its optimisation too.
    /// </summary>
    public FileLock? TryLockOptimizing(string digest)
    {
        var path = Path.Combine(LockDirectory, "optimize-" + digest[..2] + ".lock");
        try
        {
            return FileLock.Acquire(path, TimeSpan.Zero);
        }
        catch (IOException e)
        {
            _log.Warning("module cache: cannot lock {Lock}: {Error}; compiling without it", path, e.Message);
            return null;
        }
    }

    /// <summary>Writes <paramref name="code"/> as <paramref name="entry"/>: a temp file renamed over it.</summary>
    public void Store(string entry, CompiledWasm code)
    {
        var temp = $"{entry}.{Guid.NewGuid():N}{TempExtension}";
        try
        {
            var payload = code.Component is { } component ? component.Serialize() : code.Module!.Serialize();
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                stream.Write(Frame(_settingsHash, payload, code.Kind));
                stream.Write(payload);
                stream.Flush(flushToDisk: true);
            }
            // rename(2) replaces atomically: a reader sees the old entry or the new one, never a torn one.
            File.Move(temp, entry, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or WasmtimeException)
        {
            _log.Warning("module cache: cannot write {CachePath}: {Error}", entry, e.Message);
            Delete(temp);
        }
    }

    /// <summary>
    /// Deletes the least recently used entries until the rest fit in <see cref="MaxBytes"/>, never <paramref name="keep"/>
    /// (the entry just written, which may alone pass the limit), and temp files a crashed writer left.
    /// </summary>
    public void Evict(string keep)
    {
        List<FileInfo> entries;
        try
        {
            var files = new DirectoryInfo(Directory).GetFiles();
            foreach (var abandoned in files.Where(f => f.Name.EndsWith(TempExtension, StringComparison.Ordinal)
                         && DateTime.UtcNow - f.LastWriteTimeUtc > AbandonedTemp))
            {
                Delete(abandoned.FullName);
            }

            entries = files.Where(f => f.Name.EndsWith(EntryExtension, StringComparison.Ordinal)).ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _log.Warning("module cache: cannot list {CacheDir}: {Error}", Directory, e.Message);
            return;
        }
        var total = entries.Sum(f => f.Length);
        foreach (var oldest in entries.OrderBy(f => f.LastWriteTimeUtc))
        {
            if (total <= MaxBytes)
                break;
            if (oldest.FullName == keep)
                continue;
            _log.Information("module cache: evicting {CachePath} ({Bytes} bytes, last used {LastUse:o}) to stay under {Max} bytes",
                oldest.FullName, oldest.Length, oldest.LastWriteTimeUtc, MaxBytes);
            Delete(oldest.FullName);
            total -= oldest.Length;
        }
    }

    /// <summary>Records a use of <paramref name="entry"/> (its mtime is its last use, which eviction goes by).</summary>
    public void Touch(string entry)
    {
        try
        {
            File.SetLastWriteTimeUtc(entry, DateTime.UtcNow);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Gone (evicted, or never written): the next load finds out.
        }
    }

    /// <summary>The header that goes before <paramref name="payload"/> in an entry.</summary>
    internal static byte[] Frame(ReadOnlySpan<byte> settingsHash, ReadOnlySpan<byte> payload, WasmKind kind = WasmKind.CoreModule)
    {
        var header = new byte[HeaderLength];
        MagicOf(kind).CopyTo(header);
        settingsHash.CopyTo(header.AsSpan(8));
        BinaryPrimitives.WriteInt64LittleEndian(header.AsSpan(40), payload.Length);
        SHA256.HashData(payload, header.AsSpan(48));
        return header;
    }

    /// <summary>The settings hash of this cache's engine (what <see cref="Frame"/> takes).</summary>
    internal ReadOnlySpan<byte> SettingsHash => _settingsHash;

    private static ReadOnlySpan<byte> MagicOf(WasmKind kind) => kind == WasmKind.Component ? ComponentMagic : ModuleMagic;

    private string? Check(ReadOnlySpan<byte> file, WasmKind kind)
    {
        if (file.Length < HeaderLength)
            return "not a cache entry of this format";
        if (CheckHeader(file[..HeaderLength], file.Length, kind) is { } fault)
            return fault;
        return SHA256.HashData(file[HeaderLength..]).AsSpan().SequenceEqual(file[48..HeaderLength]) ? null : "checksum mismatch";
    }

    // The header of an entry of fileLength bytes: format, kind, engine settings and length; not the checksum.
    private string? CheckHeader(ReadOnlySpan<byte> header, long fileLength, WasmKind kind) =>
        ReadHeader(header, fileLength) switch
        {
            null => "not a cache entry of this format",
            var (k, _) when k != kind => "not a cache entry of this format",
            var (_, settings) when !settings.SequenceEqual(_settingsHash) => "made for other engine settings",
            _ when BinaryPrimitives.ReadInt64LittleEndian(header[40..48]) != fileLength - HeaderLength => "truncated or extended",
            _ => null,
        };

    /// <summary>
    /// The kind and engine settings hash an entry's header names; null when it has no header of this format. The length
    /// and checksum are not checked here.
    /// </summary>
    internal static (WasmKind Kind, byte[] SettingsHash)? ReadHeader(ReadOnlySpan<byte> header, long fileLength)
    {
        if (fileLength < HeaderLength || header.Length < HeaderLength)
            return null;
        WasmKind kind;
        if (header[..8].SequenceEqual(ModuleMagic))
            kind = WasmKind.CoreModule;
        else if (header[..8].SequenceEqual(ComponentMagic))
            kind = WasmKind.Component;
        else
            return null;
        return (kind, header[8..40].ToArray());
    }

    /// <summary>The settings hash entries made by a tier with <paramref name="settingsKey"/> carry.</summary>
    internal static byte[] SettingsHashOf(string settingsKey) => HashSettings(settingsKey);

    /// <summary>Deletes <paramref name="entry"/> (gone already is fine): code no load asks for any more.</summary>
    public void Remove(string entry) => Delete(entry);

    private void Delete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _log.Debug("module cache: cannot remove {Path}: {Error}", path, e.Message);
        }
    }
}
