using System.Globalization;
using System.Text;
using WasmKata.Linux.Io;
using WasmKata.Linux.Processes;

namespace WasmKata.Linux.Idmap;

/// <summary>
/// A user namespace whose only job is to carry an idmapping for mounts: uid and gid n inside are host id
/// <c>HostBase + n</c> of an <see cref="IdRange"/>. No process runs in it once it is made; the fd keeps it alive, and
/// each idmapped mount keeps its own copy of the mapping.
/// </summary>
/// <remarks>
/// A user namespace is made by unshare(CLONE_NEWUSER), which refuses a multi-threaded caller, and a .NET process is
/// never single-threaded; fork without exec is not safe in it either. So a holder is spawned, <c>unshare --user --
/// cat</c> (util-linux): cat echoes the byte we write once it runs, which proves the namespace exists; we write its
/// maps as root, open its namespace, and end it. cat also ends by itself when its stdin closes, so a daemon that
/// dies half-way leaves no holder behind.
/// </remarks>
public sealed class IdmapUserNamespace : IDisposable
{
    private const string Unshare = "/usr/bin/unshare";
    private const string Cat = "/usr/bin/cat";
    private const byte Ping = (byte)'!';
    private const short PollIn = 0x001;

    // A holder that neither echoes nor exits (a hung exec, a frozen cgroup) must not hold the caller for good.
    private static readonly TimeSpan EchoWait = TimeSpan.FromSeconds(10);

    private IdmapUserNamespace(SafeFdHandle fd, IdRange range, int holderPid)
    {
        Handle = fd;
        Range = range;
        HolderPid = holderPid;
    }

    /// <summary>The mapping this namespace carries.</summary>
    public IdRange Range { get; }

    /// <summary>The pid the holder had (gone and reaped by the time <see cref="Create"/> returns).</summary>
    public int HolderPid { get; }

    internal SafeFdHandle Handle { get; }

    /// <summary>
    /// Makes the namespace for <paramref name="range"/>; blocks for one process start (a few milliseconds). Throws a
    /// <see cref="UnixException"/> naming the step the kernel refused, with the holder's own words when it failed.
    /// </summary>
    public static IdmapUserNamespace Create(IdRange range) => Create(range, Unshare);

    /// <summary><see cref="Create(IdRange)"/> with another program in unshare's place: how specs make the holder fail.</summary>
    internal static IdmapUserNamespace Create(IdRange range, string unshare)
    {
        if (range.Count == 0)
            throw new ArgumentException("an empty id range maps nothing", nameof(range));

        var (stdinRead, stdinWrite) = Pipes.CreateRaw();
        var (outputRead, outputWrite) = Pipes.CreateRaw();
        var pid = 0;
        try
        {
            using (stdinRead)
            using (outputWrite)
            {
                // stderr joins stdout: what unshare says when it fails is read where the echo was expected.
                ChildFd[] fds =
                [
                    ChildFd.Dup(stdinRead.DangerousFd, 0),
                    ChildFd.Dup(outputWrite.DangerousFd, 1),
                    ChildFd.Dup(outputWrite.DangerousFd, 2),
                ];
                pid = ChildReaper.SpawnClaimed(() =>
                    Spawner.Spawn(unshare, ["unshare", "--user", "--", Cat], [], "/", fds, closeFrom: 3));
            }

            AwaitEcho(stdinWrite, outputRead, pid, unshare);
            var proc = "/proc/" + pid.ToString(CultureInfo.InvariantCulture);
            WriteMap(proc + "/uid_map", range);
            WriteMap(proc + "/gid_map", range);
            var fd = Interop.Open(proc + "/ns/user", Interop.O_RDONLY | Interop.O_CLOEXEC, 0);
            if (fd.IsInvalid)
            {
                var errno = Interop.Errno.Last;
                fd.Dispose();
                throw new UnixException(errno, "open", proc + "/ns/user");
            }

            return new IdmapUserNamespace(fd, range, pid);
        }
        finally
        {
            stdinWrite.Dispose();
            outputRead.Dispose();
            if (pid > 0)
                KillAndReap(pid);
        }
    }

    /// <summary>Closes the namespace fd; mounts made with it keep their mapping.</summary>
    public void Dispose() => Handle.Dispose();

    private static unsafe void AwaitEcho(SafeFdHandle stdin, SafeFdHandle output, int pid, string unshare)
    {
        var ping = Ping;
        // EPIPE: the holder is gone already (a failed unshare ends at once); its own words are in the output, read below.
        if (Interop.Write(stdin, &ping, 1) != 1 && Interop.Errno.Last != Interop.Errno.EPIPE)
            throw new UnixException(Interop.Errno.Last, "write", $"stdin of the user namespace holder (pid {pid})");

        var buffer = new byte[512];
        var length = 0;
        var deadline = Environment.TickCount64 + (long)EchoWait.TotalMilliseconds;
        fixed (byte* start = buffer)
        {
            while (length < buffer.Length)
            {
                var poll = new Interop.PollFd { Fd = output.DangerousFd, Events = PollIn };
                var left = deadline - Environment.TickCount64;
                var ready = left > 0 ? Interop.Poll(&poll, 1, (int)left) : 0;
                if (ready < 0 && Interop.Errno.Last == Interop.Errno.EINTR)
                    continue;
                if (ready == 0)
                {
                    throw new IOException(
                        $"the user namespace holder '{unshare} --user -- {Cat}' (pid {pid}) did not answer within {EchoWait.TotalSeconds:0} s");
                }

                var n = Interop.Read(output, start + length, (nuint)(buffer.Length - length));
                if (n < 0 && Interop.Errno.Last == Interop.Errno.EINTR)
                    continue;
                if (n <= 0)
                    break;
                length += (int)n;
                if (buffer[0] == Ping && length == 1)
                    return;
            }
        }

        var said = Encoding.UTF8.GetString(buffer, 0, length).Trim();
        throw new IOException(
            $"the user namespace holder '{unshare} --user -- {Cat}' (pid {pid}) did not start: " +
            (said.Length == 0 ? "it exited without a word" : said));
    }

    private static unsafe void WriteMap(string path, IdRange range)
    {
        // One write(2): the kernel takes a map in a single write and refuses a second.
        var line = Encoding.ASCII.GetBytes(range.MapLine);
        using var fd = Interop.Open(path, Interop.O_WRONLY | Interop.O_CLOEXEC, 0);
        if (fd.IsInvalid)
            throw new UnixException(Interop.Errno.Last, "open", path);

        fixed (byte* p = line)
        {
            if (Interop.Write(fd, p, (nuint)line.Length) != line.Length)
                throw new UnixException(Interop.Errno.Last, $"write '{range.MapLine.Trim()}' to", path);
        }
    }

    private static unsafe void KillAndReap(int pid)
    {
        // Ours and not yet reaped (claimed from ChildReaper), so the pid cannot belong to anyone else.
        Interop.Kill(pid, Interop.SIGKILL);
        var info = default(Interop.SigInfo);
        while (Interop.WaitId(Interop.P_PID, (uint)pid, &info, Interop.WEXITED) < 0 && Interop.Errno.Last == Interop.Errno.EINTR)
        {
        }

        ChildReaper.Release(pid);
    }
}
