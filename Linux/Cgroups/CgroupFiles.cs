using System.Globalization;
using System.Text;

namespace WasmKata.Linux.Cgroups;

/// <summary>Reads and writes of cgroupfs files and directories, with errno kept in the errors.</summary>
internal static class CgroupFiles
{
    // As a shell's "echo value > file": cgroupfs ignores the truncation, a plain file (a stand-in tree) needs it.
    private const int OTrunc = 0x200;

    /// <summary>Writes <paramref name="value"/> to <paramref name="directory"/>/<paramref name="file"/> in one write(2), as the kernel wants.</summary>
    public static unsafe void Write(string directory, string file, string value)
    {
        var path = Path.Combine(directory, file);
        using var fd = Interop.Open(path, Interop.O_WRONLY | Interop.O_CLOEXEC | OTrunc, 0);
        if (fd.IsInvalid)
        {
            var errno = Interop.Errno.Last;
            throw new CgroupException(errno == Interop.Errno.ENOENT
                ? $"cannot set {file} of cgroup {directory}: no such file (is the controller enabled there?)"
                : $"cannot set {file} of cgroup {directory}: {Interop.Errno.Describe(errno)}", errno, new UnixException(errno, "open", path));
        }

        var bytes = Encoding.ASCII.GetBytes(value);
        fixed (byte* p = bytes)
        {
            if (Interop.Write(fd, p, (nuint)bytes.Length) < 0)
            {
                var errno = Interop.Errno.Last;
                throw new CgroupException($"cannot set {file} of cgroup {directory} to '{value}': {Interop.Errno.Describe(errno)}", errno, new UnixException(errno, "write", path));
            }
        }
    }

    /// <summary>The file's text, or null when it does not exist.</summary>
    public static string? TryRead(string directory, string file)
    {
        try
        {
            return File.ReadAllText(Path.Combine(directory, file));
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
    }

    /// <summary>The file as one number, or null when it does not exist.</summary>
    public static long? TryReadNumber(string directory, string file) =>
        TryRead(directory, file) is { } text ? long.Parse(text.Trim(), CultureInfo.InvariantCulture) : null;

    /// <summary>Moves process <paramref name="pid"/> (all its threads) into the cgroup at <paramref name="directory"/>.</summary>
    public static void MoveProcess(string directory, int pid) => Write(directory, "cgroup.procs", pid.ToString(CultureInfo.InvariantCulture));

    /// <summary>The processes directly in the cgroup at <paramref name="directory"/>.</summary>
    public static IReadOnlyList<int> Processes(string directory) =>
        TryRead(directory, "cgroup.procs") is { } text
            ? text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(p => int.Parse(p, CultureInfo.InvariantCulture)).ToArray()
            : [];

    /// <summary>
    /// Empties the cgroup at <paramref name="directory"/> and its descendants into <paramref name="target"/>, then
    /// removes them, deepest first. Gone already is fine. rmdir is retried for up to 5 s: a task that just exited keeps
    /// a cgroup busy until it is reaped, and a killed process with many threads leaves it only when its last thread has.
    /// </summary>
    public static async Task RemoveTreeAsync(string directory, string target, CancellationToken cancellationToken)
    {
        if (!Directory.Exists(directory))
            return;

        foreach (var child in Directory.GetDirectories(directory))
            await RemoveTreeAsync(child, target, cancellationToken).ConfigureAwait(false);

        var busySince = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            foreach (var pid in Processes(directory))
            {
                try
                {
                    MoveProcess(target, pid);
                }
                catch (CgroupException e) when (e.Errno == Interop.Errno.ESRCH)
                {
                    // Exited meanwhile.
                }
            }

            if (Interop.Rmdir(directory) == 0)
                return;

            var errno = Interop.Errno.Last;
            if (errno == Interop.Errno.ENOENT)
                return;

            if (errno != Interop.Errno.EBUSY || busySince.Elapsed > TimeSpan.FromSeconds(5))
                throw new CgroupException($"cannot remove cgroup {directory}: {Interop.Errno.Describe(errno)}", errno, new UnixException(errno, "rmdir", directory));

            await Task.Delay(10, cancellationToken).ConfigureAwait(false);
        }
    }
}
