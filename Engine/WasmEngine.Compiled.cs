using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;
using Microsoft.Win32.SafeHandles;
using Wasmtime;
using Wasmtime.Components;

namespace WasmKata.Engine;

// A guest host's side of the compile cache: it never compiles what the daemon handed over as an entry, and never opens
// the cache itself (it gets one descriptor, read-only).
public sealed partial class WasmEngine
{
    /// <summary>
    /// The code in the compile cache entry behind <paramref name="entry"/> (handed over by the daemon, which checked it
    /// whole through the same descriptor): its header names the kind and the engine settings, which must be one of this
    /// engine's tiers exactly (Cranelift with these options, or Winch), else <see cref="InvalidOperationException"/>
    /// says so; Wasmtime's own refusal comes the same way. The payload is mapped, not copied, before Wasmtime copies
    /// it into its code memory.
    /// </summary>
    public GuestModule LoadCompiled(SafeFileHandle entry, string name, string digest)
    {
        ArgumentNullException.ThrowIfNull(entry);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed), this);
        var length = RandomAccess.GetLength(entry);
        var header = new byte[CompileCache.HeaderLength];
        if (length < header.Length || RandomAccess.Read(entry, header, 0) != header.Length
            || CompileCache.ReadHeader(header, length) is not var (kind, settings))
        {
            throw new InvalidOperationException("the compiled code handed over is not a compile cache entry");
        }
        if (BinaryPrimitives.ReadInt64LittleEndian(header.AsSpan(40)) != length - header.Length)
            throw new InvalidOperationException("the compiled code handed over is truncated or extended");
        var tier = TierFor(settings);
        var code = Deserialize(entry, length, kind, tier, name);
        return new GuestModule(this, name, digest, ModuleSource.DiskCache, code);
    }

    // The tier whose settings made the entry; none of ours is a configuration mismatch between daemon and guest host.
    private EngineTier TierFor(byte[] settings)
    {
        if (settings.AsSpan().SequenceEqual(CompileCache.SettingsHashOf(_optimizing.SettingsKey)))
            return _optimizing;
        var winch = EngineTier.SettingsKeyFor(Options, CompilerTier.Winch);
        if (settings.AsSpan().SequenceEqual(CompileCache.SettingsHashOf(winch)))
            return _baseline.Value;
        throw new InvalidOperationException(
            $"the compiled code handed over was made for other engine settings than this guest host's ({_optimizing.SettingsKey} or {winch}): the daemon and its guest hosts must configure their engines alike");
    }

    private static unsafe CompiledWasm Deserialize(SafeFileHandle entry, long length, WasmKind kind, EngineTier tier, string name)
    {
        var payloadLength = length - CompileCache.HeaderLength;
        if (payloadLength > int.MaxValue)
            throw new InvalidOperationException($"the compiled code handed over is too large ({payloadLength} bytes)");
        using var map = MemoryMappedFile.CreateFromFile(entry, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: true);
        using var view = map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
        byte* start = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref start);
        try
        {
            var payload = new ReadOnlySpan<byte>(start + view.PointerOffset + CompileCache.HeaderLength, (int)payloadLength);
            return kind == WasmKind.Component
                ? new CompiledWasm(Component.Deserialize(tier.Engine, payload), tier)
                : new CompiledWasm(Module.Deserialize(tier.Engine, name, payload), tier);
        }
        catch (WasmtimeException e)
        {
            throw new InvalidOperationException($"Wasmtime does not load the compiled code handed over: {WasmtimeErrors.OneLine(e.Message)}", e);
        }
        finally
        {
            view.SafeMemoryMappedViewHandle.ReleasePointer();
        }
    }
}
