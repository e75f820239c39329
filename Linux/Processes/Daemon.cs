using System.Collections;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace WasmKata.Linux.Processes;

/// <summary>Starts the long-running shim server from the short-lived start process, and adopts its socket there.</summary>
public static class Daemon
{
    /// <summary>The fd number the listening socket has in the daemon (runc's convention).</summary>
    internal const int ListenerFd = 3;

    private const string DevNull = "/dev/null";

    /// <summary>
    /// posix_spawn with a new session, stdio on /dev/null (so the start process's stdout pipe can reach EOF),
    /// <paramref name="listenSocket"/> as fd 3 (none for a spare), every other fd closed, signals unblocked and at their defaults,
    /// cwd <paramref name="workingDirectory"/>, and the current environment plus <paramref name="extraEnv"/>.
    /// <paramref name="argv"/> is the full vector including argv[0]. Returns the child's pid.
    /// </summary>
    public static int Spawn(
        string executable,
        IReadOnlyList<string> argv,
        SafeHandle? listenSocket,
        string workingDirectory,
        IReadOnlyDictionary<string, string>? extraEnv = null)
    {
        var added = false;
        listenSocket?.DangerousAddRef(ref added);
        try
        {
            // dup2 first, in case the socket sits on 0-2.
            List<ChildFd> fds = listenSocket is null ? [] : [ChildFd.Dup((int)listenSocket.DangerousGetHandle(), ListenerFd)];
            fds.Add(ChildFd.Open(0, DevNull, Interop.O_RDONLY));
            fds.Add(ChildFd.Open(1, DevNull, Interop.O_WRONLY));
            fds.Add(ChildFd.Open(2, DevNull, Interop.O_WRONLY));
            return Spawner.Spawn(executable, argv, MergeEnvironment(extraEnv), workingDirectory, fds, listenSocket is null ? 3 : ListenerFd + 1);
        }
        finally
        {
            if (added)
                listenSocket!.DangerousRelease();
        }
    }

    /// <summary>In the daemon: the listening socket inherited as <paramref name="fd"/>; same as <see cref="UnixListener.AdoptInherited"/>.</summary>
    public static Socket AdoptInheritedListener(int fd = ListenerFd) => UnixListener.AdoptInherited(fd);

    private static List<string> MergeEnvironment(IReadOnlyDictionary<string, string>? extraEnv)
    {
        var merged = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (DictionaryEntry entry in Environment.GetEnvironmentVariables())
            merged[(string)entry.Key] = (string?)entry.Value ?? string.Empty;

        foreach (var (key, value) in extraEnv ?? new Dictionary<string, string>())
        {
            if (key.Length == 0 || key.Contains('=', StringComparison.Ordinal))
                throw new ArgumentException($"Invalid environment variable name '{key}'.", nameof(extraEnv));

            merged[key] = value;
        }

        return merged.Select(pair => pair.Key + "=" + pair.Value).ToList();
    }
}
