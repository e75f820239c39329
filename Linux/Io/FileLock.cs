namespace WasmKata.Linux.Io;

/// <summary>
/// An exclusive flock(2) on a lock file, shared between processes: held until disposed, or until the holder dies (the
/// kernel releases it with the last fd), so a crashed holder never leaves it taken.
/// </summary>
public sealed class FileLock : IDisposable
{
    private static readonly TimeSpan FirstPoll = TimeSpan.FromMilliseconds(10);
    private static readonly TimeSpan LongestPoll = TimeSpan.FromMilliseconds(100);

    private readonly SafeFdHandle _fd;

    private FileLock(SafeFdHandle fd) => _fd = fd;

    /// <summary>
    /// Takes the lock on <paramref name="path"/> (created 0600 if missing), waiting up to <paramref name="timeout"/>
    /// while another holds it; null when the wait ran out. Throws <see cref="UnixException"/> when the file cannot be opened.
    /// </summary>
    /// <remarks>The wait polls rather than blocks in flock: a blocked flock could not be given a deadline.</remarks>
    public static FileLock? Acquire(string path, TimeSpan timeout)
    {
        var fd = Interop.Open(path, Interop.O_RDWR | Interop.O_CREAT | Interop.O_CLOEXEC, 0x180);
        if (fd.IsInvalid)
        {
            var errno = Interop.Errno.Last;
            fd.Dispose();
            throw new UnixException(errno, "open", path);
        }
        var deadline = DateTime.UtcNow + timeout;
        var poll = FirstPoll;
        while (true)
        {
            if (Interop.Flock(fd, Interop.LOCK_EX | Interop.LOCK_NB) == 0)
                return new FileLock(fd);
            var errno = Interop.Errno.Last;
            if (errno == Interop.Errno.EINTR)
                continue;
            if (errno != Interop.Errno.EAGAIN)
            {
                fd.Dispose();
                throw new UnixException(errno, "flock", path);
            }
            if (DateTime.UtcNow >= deadline)
            {
                fd.Dispose();
                return null;
            }
            Thread.Sleep(poll);
            poll = TimeSpan.FromTicks(Math.Min(poll.Ticks * 2, LongestPoll.Ticks));
        }
    }

    /// <summary>Releases the lock (closing the fd releases it).</summary>
    public void Dispose() => _fd.Dispose();
}
