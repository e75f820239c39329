using System.Runtime.InteropServices;

namespace WasmKata.Linux.Processes;

/// <summary>What one of the child's fds is made from: a dup of one of ours, or a file opened in the child.</summary>
internal readonly record struct ChildFd(int Target, int Source = -1, string? OpenPath = null, int OpenFlags = 0)
{
    /// <summary>The child's <paramref name="target"/> is a copy of our <paramref name="source"/>.</summary>
    public static ChildFd Dup(int source, int target) => new(target, Source: source);

    /// <summary>The child's <paramref name="target"/> is <paramref name="path"/> opened with <paramref name="flags"/>.</summary>
    public static ChildFd Open(int target, string path, int flags) => new(target, OpenPath: path, OpenFlags: flags);
}

/// <summary>
/// The one posix_spawn the shim uses for its children (the daemon, hooks): absolute path, exact argv and environment,
/// a session of its own, signals unblocked and at their defaults, cwd set, the given fds and nothing else inherited.
/// </summary>
internal static class Spawner
{
    /// <summary>Throws the errors a caller should see before anything native is touched.</summary>
    public static void Validate(string path, IReadOnlyList<string> argv, string workingDirectory)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(argv);
        ArgumentException.ThrowIfNullOrEmpty(workingDirectory);
        if (!System.IO.Path.IsPathRooted(path))
            throw new ArgumentException($"Program '{path}' must be an absolute path.", nameof(path));

        if (argv.Count == 0)
            throw new ArgumentException("argv needs at least argv[0].", nameof(argv));

        if (!Directory.Exists(workingDirectory))
            throw new DirectoryNotFoundException($"Working directory '{workingDirectory}' for '{path}' does not exist.");
    }

    /// <summary>
    /// Spawns <paramref name="path"/>; <paramref name="fds"/> are applied in order, then every fd from
    /// <paramref name="closeFrom"/> up is closed (also those without O_CLOEXEC that native code left us).
    /// Returns the child's pid; its session and process group ids are the same number.
    /// </summary>
    public static unsafe int Spawn(
        string path, IReadOnlyList<string> argv, IReadOnlyList<string> environment, string workingDirectory,
        IReadOnlyList<ChildFd> fds, int closeFrom)
    {
        Validate(path, argv, workingDirectory);
        using var nativeArgv = new NativeStringArray(argv);
        using var nativeEnvp = new NativeStringArray(environment);
        var actions = NativeMemory.AllocZeroed(Interop.SpawnFileActionsSize);
        var attr = NativeMemory.AllocZeroed(Interop.SpawnAttrSize);
        var signals = NativeMemory.AllocZeroed(Interop.SigSetSize);
        bool actionsReady = false, attrReady = false;
        try
        {
            Check(Interop.SpawnFileActionsInit(actions), "posix_spawn_file_actions_init");
            actionsReady = true;
            foreach (var fd in fds)
            {
                // glibc's adddup2 clears close-on-exec even when source == target.
                Check(fd.OpenPath is { } file
                        ? Interop.SpawnFileActionsAddOpen(actions, fd.Target, file, fd.OpenFlags, 0)
                        : Interop.SpawnFileActionsAddDup2(actions, fd.Source, fd.Target),
                    fd.OpenPath is null ? "posix_spawn_file_actions_adddup2" : "posix_spawn_file_actions_addopen");
            }

            Check(Interop.SpawnFileActionsAddCloseFrom(actions, closeFrom), "posix_spawn_file_actions_addclosefrom_np");
            Check(Interop.SpawnFileActionsAddChdir(actions, workingDirectory), "posix_spawn_file_actions_addchdir_np");

            Check(Interop.SpawnAttrInit(attr), "posix_spawnattr_init");
            attrReady = true;

            // A session of its own: its orphans can be told apart from System.Diagnostics.Process children (see
            // ChildReaper), a timeout can kill the whole group, and a daemon outlives the start process's group.
            Check(Interop.SpawnAttrSetFlags(attr, Interop.POSIX_SPAWN_SETSID | Interop.POSIX_SPAWN_SETSIGMASK | Interop.POSIX_SPAWN_SETSIGDEF),
                "posix_spawnattr_setflags");
            Interop.SigEmptySet(signals);
            Check(Interop.SpawnAttrSetSigMask(attr, signals), "posix_spawnattr_setsigmask");

            // .NET ignores SIGPIPE, and an ignored disposition survives exec; children start from defaults.
            Interop.SigFillSet(signals);
            Check(Interop.SpawnAttrSetSigDefault(attr, signals), "posix_spawnattr_setsigdefault");

            var error = Interop.PosixSpawn(out var pid, path, actions, attr, nativeArgv.Pointer, nativeEnvp.Pointer);
            if (error != 0)
                UnixErrors.Throw(error, "posix_spawn", path);

            return pid;
        }
        finally
        {
            if (attrReady)
                Interop.SpawnAttrDestroy(attr);

            if (actionsReady)
                Interop.SpawnFileActionsDestroy(actions);

            NativeMemory.Free(signals);
            NativeMemory.Free(attr);
            NativeMemory.Free(actions);
        }
    }

    private static void Check(int error, string operation)
    {
        if (error != 0)
            UnixErrors.Throw(error, operation);
    }
}
