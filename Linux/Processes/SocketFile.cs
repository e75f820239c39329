namespace WasmKata.Linux.Processes;

/// <summary>Which file a path names: device and inode, as statx reports them (not following a final symlink).</summary>
public readonly record struct FileIdentity(uint DeviceMajor, uint DeviceMinor, ulong Inode);

/// <summary>
/// A socket path that changes hands: a daemon unlinks its path only while the path still names its own socket file,
/// so an exiting daemon never deletes the socket a newer daemon bound at the same path.
/// </summary>
public static class SocketFile
{
    private const uint StatxIno = 0x100;
    private const int StatxInoOffset = 32;
    private const int StatxDevMajorOffset = 136;
    private const int StatxDevMinorOffset = 140;

    /// <summary>The identity of the file <paramref name="path"/> names now, or null when there is none.</summary>
    public static unsafe FileIdentity? Identify(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var buffer = stackalloc byte[Interop.StatxSize];
        if (Interop.Statx(Interop.AT_FDCWD, path, Interop.AT_SYMLINK_NOFOLLOW, StatxIno, buffer) != 0)
            return null;

        return new FileIdentity(*(uint*)(buffer + StatxDevMajorOffset), *(uint*)(buffer + StatxDevMinorOffset), *(ulong*)(buffer + StatxInoOffset));
    }

    /// <summary>
    /// Unlinks <paramref name="path"/> if it still names <paramref name="identity"/>; true when it did. Another
    /// file at the path (a newer daemon's socket) is left alone, and so is a path that is gone.
    /// </summary>
    public static bool UnlinkIfSame(string path, FileIdentity identity)
    {
        if (Identify(path) != identity)
            return false;

        try
        {
            File.Delete(path);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }
}
