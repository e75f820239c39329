namespace WasmKata.Linux.Idmap;

/// <summary>
/// A sandbox's own host ids under process isolation (docs/guest-host.md, "The uid: one id range per sandbox"): the
/// range its guest hosts run as the root of, and the user namespace its rootfs and bind mounts are idmapped through.
/// Made once when the sandbox's daemon starts serving it; disposing it frees the range for another sandbox.
/// </summary>
public sealed class SandboxIds : IDisposable
{
    private readonly IdRangeAllocator _allocator;
    private readonly string _sandboxId;
    private bool _released;

    private SandboxIds(IdRangeAllocator allocator, string sandboxId, IdRangeAllocation allocation, IdmapUserNamespace userNamespace)
    {
        _allocator = allocator;
        _sandboxId = sandboxId;
        Allocation = allocation;
        UserNamespace = userNamespace;
    }

    /// <summary>The range, and the sandbox it was reclaimed from (a dead daemon's), if it was.</summary>
    public IdRangeAllocation Allocation { get; }

    /// <summary>The namespace carrying the range's mapping, for idmapped mounts.</summary>
    public IdmapUserNamespace UserNamespace { get; }

    /// <summary>The host uid and gid the sandbox's guest hosts run as: on-disk root through its idmapped mounts.</summary>
    public uint RootHostId => Allocation.Range.RootHostId;

    /// <summary>
    /// Takes a range for <paramref name="sandboxId"/> from <paramref name="allocator"/> and makes its user namespace
    /// (blocks for milliseconds: a file lock and one process start). On failure nothing is held.
    /// </summary>
    public static SandboxIds Allocate(IdRangeAllocator allocator, string sandboxId)
    {
        ArgumentNullException.ThrowIfNull(allocator);
        var allocation = allocator.Allocate(sandboxId);
        try
        {
            return new SandboxIds(allocator, sandboxId, allocation, IdmapUserNamespace.Create(allocation.Range));
        }
        catch
        {
            allocator.Release(sandboxId);
            throw;
        }
    }

    /// <summary>Closes the namespace and frees the range; once. Mounts made through it keep their own mapping.</summary>
    public void Dispose()
    {
        if (_released)
            return;
        _released = true;
        UserNamespace.Dispose();
        _allocator.Release(_sandboxId);
    }
}
