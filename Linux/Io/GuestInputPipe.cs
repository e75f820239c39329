using System.Globalization;

namespace WasmKata.Linux.Io;

/// <summary>
/// The pipe behind a guest's stdin: the engine opens the read end by path, we write into <see cref="Writer"/>.
/// The guest sees EOF once <see cref="Writer"/> is disposed and <see cref="ReleaseReadEnd"/> was called.
/// </summary>
public sealed class GuestInputPipe : IDisposable
{
    private SafeFdHandle? _readEnd;

    // Opening a pipe by path blocks while it has no writer. This spare write end keeps the engine's open from
    // hanging when the client's stdin ends (and Writer is disposed) before the engine opened ReadEndPath.
    private SafeFdHandle? _spareWriter;

    /// <summary>Creates the pipe; every end is close-on-exec.</summary>
    public GuestInputPipe()
    {
        var (read, write) = Pipes.CreateRaw();
        try
        {
            var spare = Interop.Fcntl(write, Interop.F_DUPFD_CLOEXEC, 0);
            if (spare < 0)
                UnixErrors.ThrowLast("fcntl(F_DUPFD_CLOEXEC)", "guest stdin pipe");

            _spareWriter = new SafeFdHandle(spare, ownsHandle: true);
            Writer = new AsyncFd(write, "guest stdin pipe");
        }
        catch
        {
            read.Dispose();
            write.Dispose();
            _spareWriter?.Dispose();
            throw;
        }

        _readEnd = read;
        ReadEndPath = "/proc/self/fd/" + read.DangerousFd.ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>The non-blocking write end.</summary>
    public AsyncFd Writer { get; }

    /// <summary>A path that opens the read end, valid in this process until <see cref="ReleaseReadEnd"/>.</summary>
    public string ReadEndPath { get; }

    /// <summary>The read end while it is held (for a guest host, which gets it as its fd 0).</summary>
    internal SafeFdHandle? ReadEnd => Volatile.Read(ref _readEnd);

    /// <summary>Call once the engine has opened <see cref="ReadEndPath"/>: closes our read end and spare writer. Idempotent.</summary>
    public void ReleaseReadEnd()
    {
        Interlocked.Exchange(ref _readEnd, null)?.Dispose();
        Interlocked.Exchange(ref _spareWriter, null)?.Dispose();
    }

    /// <summary>Releases the read end and closes the writer.</summary>
    public void Dispose()
    {
        ReleaseReadEnd();
        Writer.Dispose();
    }
}
