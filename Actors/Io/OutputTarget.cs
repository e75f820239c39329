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
        return new FifoTarget(Fifo.OpenWriter(path));
    }

    /// <summary>Writes all of <paramref name="data"/>; throws <see cref="BrokenPipeException"/> when the reader left.</summary>
    public abstract ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken);

    public abstract void Dispose();

    private sealed class FifoTarget(AsyncFd fd) : OutputTarget
    {
        public override ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken) =>
            fd.WriteAsync(data, cancellationToken);

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
