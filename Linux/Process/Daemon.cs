using System.Collections;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace WasmKata.Linux.Process;

/// <summary>Starts the long-running shim server from the short-lived start process, and adopts its socket there.</summary>
public static class Daemon
{
    /// <summary>The fd number the listening socket has in the daemon (runc's convention).</summary>
    internal const int ListenerFd = 3;

    private const string DevNull = "/dev/null";

    /// <summary>
    /// posix_spawn with a new session, stdio on /dev/null (so the start process's stdout pipe can reach EOF),
    /// <paramref name="listenSocket"/> as fd 3, every other fd closed, signals unblocked and at their defaults,
    /// cwd <paramref name="workingDirectory"/>, and the current environment plus <paramref name="extraEnv"/>.
    /// <paramref name="argv"/> is the full vector including argv[0]. Returns the child's pid.
    /// </summary>
    public static int Spawn(
        string executable,
        IReadOnlyList<string> argv,
        SafeHandle listenSocket,
        string workingDirectory,
        IReadOnlyDictionary<string, string>? extraEnv = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(executable);
        ArgumentNullException.ThrowIfNull(argv);
        ArgumentNullException.ThrowIfNull(listenSocket);
        ArgumentException.ThrowIfNullOrEmpty(workingDirectory);
        if (!Path.IsPathRooted(executable))
        {
            throw new ArgumentException($"Executable '{executable}' must be an absolute path.", nameof(executable));
        }

        if (argv.Count == 0)
        {
            throw new ArgumentException("argv needs at least argv[0].", nameof(argv));
        }

        if (!Directory.Exists(workingDirectory))
        {
            throw new DirectoryNotFoundException($"Working directory '{workingDirectory}' for '{executable}' does not exist.");
        }

        using var nativeArgv = new NativeStringArray(argv);
        using var nativeEnvp = new NativeStringArray(MergeEnvironment(extraEnv));
        var added = false;
        listenSocket.DangerousAddRef(ref added);
        try
        {
            return SpawnCore(executable, nativeArgv, nativeEnvp, (int)listenSocket.DangerousGetHandle(), workingDirectory);
        }
        finally
        {
            if (added)
            {
                listenSocket.DangerousRelease();
            }
        }
    }

    /// <summary>In the daemon: the listening socket inherited as <paramref name="fd"/>; same as <see cref="UnixListener.AdoptInherited"/>.</summary>
    public static Socket AdoptInheritedListener(int fd = ListenerFd) => UnixListener.AdoptInherited(fd);

    private static unsafe int SpawnCore(string executable, NativeStringArray argv, NativeStringArray envp, int socketFd, string cwd)
    {
        var actions = NativeMemory.AllocZeroed(Interop.SpawnFileActionsSize);
        var attr = NativeMemory.AllocZeroed(Interop.SpawnAttrSize);
        var signals = NativeMemory.AllocZeroed(Interop.SigSetSize);
        bool actionsReady = false, attrReady = false;
        try
        {
            Check(Interop.SpawnFileActionsInit(actions), "posix_spawn_file_actions_init");
            actionsReady = true;

            // dup2 first, in case the socket sits on 0-2; glibc clears close-on-exec even when socketFd is already 3.
            Check(Interop.SpawnFileActionsAddDup2(actions, socketFd, ListenerFd), "posix_spawn_file_actions_adddup2");
            Check(Interop.SpawnFileActionsAddOpen(actions, 0, DevNull, Interop.O_RDONLY, 0), "posix_spawn_file_actions_addopen");
            Check(Interop.SpawnFileActionsAddOpen(actions, 1, DevNull, Interop.O_WRONLY, 0), "posix_spawn_file_actions_addopen");
            Check(Interop.SpawnFileActionsAddOpen(actions, 2, DevNull, Interop.O_WRONLY, 0), "posix_spawn_file_actions_addopen");

            // Also catches fds without O_CLOEXEC, e.g. ones native libraries or our own parent left us.
            Check(Interop.SpawnFileActionsAddCloseFrom(actions, ListenerFd + 1), "posix_spawn_file_actions_addclosefrom_np");
            Check(Interop.SpawnFileActionsAddChdir(actions, cwd), "posix_spawn_file_actions_addchdir_np");

            Check(Interop.SpawnAttrInit(attr), "posix_spawnattr_init");
            attrReady = true;
            Check(Interop.SpawnAttrSetFlags(attr, Interop.POSIX_SPAWN_SETSID | Interop.POSIX_SPAWN_SETSIGMASK | Interop.POSIX_SPAWN_SETSIGDEF),
                "posix_spawnattr_setflags");
            Interop.SigEmptySet(signals);
            Check(Interop.SpawnAttrSetSigMask(attr, signals), "posix_spawnattr_setsigmask");

            // .NET ignores SIGPIPE, and an ignored disposition survives exec; the daemon starts from defaults.
            Interop.SigFillSet(signals);
            Check(Interop.SpawnAttrSetSigDefault(attr, signals), "posix_spawnattr_setsigdefault");

            var error = Interop.PosixSpawn(out var pid, executable, actions, attr, argv.Pointer, envp.Pointer);
            if (error != 0)
            {
                UnixErrors.Throw(error, "posix_spawn", executable);
            }

            return pid;
        }
        finally
        {
            if (attrReady)
            {
                Interop.SpawnAttrDestroy(attr);
            }

            if (actionsReady)
            {
                Interop.SpawnFileActionsDestroy(actions);
            }

            NativeMemory.Free(signals);
            NativeMemory.Free(attr);
            NativeMemory.Free(actions);
        }
    }

    private static void Check(int error, string operation)
    {
        if (error != 0)
        {
            UnixErrors.Throw(error, operation);
        }
    }

    private static List<string> MergeEnvironment(IReadOnlyDictionary<string, string>? extraEnv)
    {
        var merged = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (DictionaryEntry entry in Environment.GetEnvironmentVariables())
        {
            merged[(string)entry.Key] = (string?)entry.Value ?? string.Empty;
        }

        foreach (var (key, value) in extraEnv ?? new Dictionary<string, string>())
        {
            if (key.Length == 0 || key.Contains('=', StringComparison.Ordinal))
            {
                throw new ArgumentException($"Invalid environment variable name '{key}'.", nameof(extraEnv));
            }

            merged[key] = value;
        }

        return merged.Select(pair => pair.Key + "=" + pair.Value).ToList();
    }
}
