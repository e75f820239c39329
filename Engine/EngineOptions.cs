namespace WasmKata.Engine;

/// <summary>Settings of the one <see cref="WasmEngine"/> of a shim process.</summary>
public sealed record EngineOptions
{
    /// <summary>How often the epoch advances: the granularity of kill (and later pause) for a spinning guest.</summary>
    public TimeSpan EpochTick { get; init; } = TimeSpan.FromMilliseconds(10);

    /// <summary>Where precompiled modules are kept across processes; null keeps them in memory only.</summary>
    public string? ModuleCacheDirectory { get; init; }

    /// <summary>How large the module cache may grow on disk before its least recently used entries go.</summary>
    public long ModuleCacheMaxBytes { get; init; } = 1L << 30;

    /// <summary>
    /// Core modules this large or larger whose optimised code is not cached yet start on Winch code (compiled on every
    /// core) while Cranelift compiles them in the background; 0 compiles every module with Cranelift before it starts.
    /// </summary>
    public long BaselineMinBytes { get; init; } = 4L << 20;

    /// <summary>Whether instances come from Wasmtime's pooling allocator (faster instantiation, fixed slots).</summary>
    public bool PoolingAllocator { get; init; }

    /// <summary>With the pooling allocator: how many instances (and memories, tables) may live at once.</summary>
    public int PoolingMaxInstances { get; init; } = 1000;

    /// <summary>With the pooling allocator: the most linear memory one instance may grow to.</summary>
    public long PoolingMaxMemoryBytes { get; init; } = 4L << 30;

    /// <summary>
    /// Starts a compile process for a big module's optimised code and returns its pid (the daemon sets it; with a disk
    /// cache only). Null: the compile runs on a thread of this process.
    /// </summary>
    public Func<CompileRequest, int>? CompileProcess { get; init; }

    internal void Validate()
    {
        if (EpochTick <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(EpochTick), EpochTick, "the epoch tick must be positive");
        if (ModuleCacheMaxBytes <= 0)
            throw new ArgumentOutOfRangeException(nameof(ModuleCacheMaxBytes), ModuleCacheMaxBytes, "must be positive");
        if (BaselineMinBytes < 0)
            throw new ArgumentOutOfRangeException(nameof(BaselineMinBytes), BaselineMinBytes, "must not be negative");
        if (PoolingAllocator && PoolingMaxInstances <= 0)
            throw new ArgumentOutOfRangeException(nameof(PoolingMaxInstances), PoolingMaxInstances, "must be positive");
        if (PoolingAllocator && PoolingMaxMemoryBytes < 65536)
            throw new ArgumentOutOfRangeException(nameof(PoolingMaxMemoryBytes), PoolingMaxMemoryBytes, "must hold at least one wasm page");
    }
}
