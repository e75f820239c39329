namespace WasmKata.Linux.Io;

/// <summary>Opens the named pipes containerd passes for stdio without ever blocking in open(2).</summary>
public static class Fifo
{
    private const uint FifoMode = 0x180; // 0600

    /// <summary>Creates a FIFO with mode 0600.</summary>
    public static void Create(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (Interop.MkFifo(path, FifoMode) != 0)
            UnixErrors.ThrowLast("mkfifo", path);
    }

    /// <summary>The pipe capacity <see cref="OpenWriter"/> asks for: 1 MiB, the kernel's default maximum.</summary>
    public const int WriterPipeBytes = 1 << 20;

    /// <summary>
    /// Opens <paramref name="path"/> for writing. With no reader yet (ENXIO) it falls back to O_RDWR, which
    /// keeps the FIFO open so data waits in the pipe buffer until the reader arrives.
    /// </summary>

    public static AsyncFd OpenWriter(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var fd = Interop.Open(path, Interop.O_WRONLY | Interop.O_NONBLOCK | Interop.O_CLOEXEC, 0);
        var readsItself = false;
        if (fd.IsInvalid && Interop.Errno.Last == Interop.Errno.ENXIO)
        {
            // No reader yet. Being a reader ourselves means writes never see EPIPE and block once the buffer is full.
            fd = Interop.Open(path, Interop.O_RDWR | Interop.O_NONBLOCK | Interop.O_CLOEXEC, 0);
            readsItself = true;
        }

        if (fd.IsInvalid)
            UnixErrors.ThrowLast("open FIFO for writing", path);

        // A bigger pipe means fewer waits for the reader (the kernel allocates the pages only as they fill).
        // Best effort: an unprivileged process may be refused beyond /proc/sys/fs/pipe-max-size.
        _ = Interop.Fcntl(fd, Interop.F_SETPIPE_SZ, WriterPipeBytes);
        return new AsyncFd(fd, path) { ReadsItself = readsItself };
    }

    /// <summary>
    /// Opens <paramref name="path"/> write-only if a reader has it open (this process's own O_RDWR writer counts), or
    /// returns null: no reader, or no FIFO there any more.
    /// </summary>
    public static AsyncFd? TryOpenWriteOnly(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var fd = Interop.Open(path, Interop.O_WRONLY | Interop.O_NONBLOCK | Interop.O_CLOEXEC, 0);
        return fd.IsInvalid ? null : new AsyncFd(fd, path);
    }

    /// <summary>
    /// Opens <paramref name="path"/> for reading without waiting for a writer. Reads wait for the first writer
    /// and report EOF only after a writer has connected and all writers have left.
    /// </summary>
    public static AsyncFd OpenReader(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var fd = Interop.Open(path, Interop.O_RDONLY | Interop.O_NONBLOCK | Interop.O_CLOEXEC, 0);
        if (fd.IsInvalid)
            UnixErrors.ThrowLast("open FIFO for reading", path);

        return new AsyncFd(fd, path, eofNeedsReadiness: true);
    }
}
