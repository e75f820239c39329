using WasmKata.Linux;
using WasmKata.Linux.Io;

namespace WasmKata.Actors.Io;

/// <summary>Where a pump writes: containerd's FIFO, or a log file from a <c>file://</c> URI.</summary>
internal abstract class OutputTarget : IDisposable
{
    /// <summary>Opens the target named by a task's stdout/stderr string.</summary>
    public static OutputTarget Open(string target)
    {
        if (target.StartsWith("file://", StringComparison.Ordinal))
            return new FileTarget(new Uri(target).LocalPath);
        if (target.StartsWith("binary://", StringComparison.Ordinal))
            throw new NotSupportedException("binary:// log URIs are not supported yet");
        var path = target.StartsWith("fifo://", StringComparison.Ordinal) ? new Uri(target).LocalPath : target;
        return new FifoTarget(Fifo.OpenWriter(path), path);
    }

    /// <summary>Writes all of <paramref name="data"/>; throws <see cref="BrokenPipeException"/> when the reader left.</summary>
    public abstract ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken);

    /// <summary>
    /// Completes once what was written has left the target for its reader (a FIFO is empty), or no reader is left to
    /// take it; returns how many bytes were still unread at that point (0 unless the reader left).
    /// </summary>
    public virtual ValueTask<int> WaitUntilReadAsync(CancellationToken cancellationToken) => ValueTask.FromResult(0);

    public abstract void Dispose();

    private sealed class FifoTarget(AsyncFd fd, string path) : OutputTarget
    {
        // The kernel has no readiness event for "the pipe is empty": look again, soon at first, then less often.
        private static readonly TimeSpan FirstLook = TimeSpan.FromMilliseconds(1);
        private static readonly TimeSpan LastLook = TimeSpan.FromMilliseconds(20);

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken) =>
            fd.WriteAsync(data, cancellationToken);

        // A reader such as ctr 1.6 closes its FIFO as soon as it learns of the exit, dropping whatever is still in the
        // pipe (up to its whole 1 MiB): an exit may only go out once the reader has taken every byte.
        public override async ValueTask<int> WaitUntilReadAsync(CancellationToken cancellationToken)
        {
            var watched = fd;
            AsyncFd? writeOnly = null;
            if (fd.ReadsItself)
            {
                // Opened before any reader, the writer is a reader too: watch through a write-only fd, with it closed.
                writeOnly = Fifo.TryOpenWriteOnly(path);
                if (writeOnly is null)
                    return 0;
                fd.Dispose();
                watched = writeOnly;
            }
            try
            {
                var wait = FirstLook;
                while (true)
                {
                    var (unread, hasReader) = watched.PipeBacklog();
                    if (unread == 0 || !hasReader)
                        return unread;
                    await Task.Delay(wait, cancellationToken).ConfigureAwait(false);
                    wait = TimeSpan.FromTicks(Math.Min(wait.Ticks * 2, LastLook.Ticks));
                }
            }
            finally
            {
                writeOnly?.Dispose();
            }
        }

        public override void Dispose() => fd.Dispose();
    }

    private sealed class FileTarget : OutputTarget
    {
        private readonly FileStream _file;

        public FileTarget(string path)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            _file = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite, 1, useAsync: true);
        }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken) =>
            _file.WriteAsync(data, cancellationToken);

        public override void Dispose() => _file.Dispose();
    }
}
