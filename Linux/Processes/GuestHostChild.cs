using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using WasmKata.Linux.Idmap;
using WasmKata.Linux.Io;
using WasmKata.Linux.Namespaces;

namespace WasmKata.Linux.Processes;

/// <summary>What one guest host is handed: the files it may reach and the pipes it talks through.</summary>
/// <param name="RootfsPath">The container's rootfs directory, opened here (privileged) and handed over as a descriptor.</param>
/// <param name="ModulePath">The wasm file, opened read-only here.</param>
/// <param name="Stdin">The pipe whose read end becomes its fd 0; null: /dev/null.</param>
/// <param name="Stdout">Whether the guest's stdout gets a pipe (else /dev/null).</param>
/// <param name="Stderr">Whether the guest's stderr gets a pipe of its own (else /dev/null, or the stdout pipe if <paramref name="SharedOutput"/>).</param>
/// <param name="SharedOutput">stdout and stderr are one stream (a terminal): one pipe for both.</param>
/// <param name="PreopenPaths">Host directories handed over as descriptors, in order.</param>
/// <param name="Namespaces">The sandbox's namespaces the guest host enters in stage 1.</param>
/// <param name="Idmap">The sandbox's idmapping: each preopen is handed over as a detached idmapped clone of its mount
/// through it (on-disk id n shows as the range's base + n), not as the directory itself; null: as the directory.</param>
/// <param name="ReadOnlyPreopens">Which preopens are read-only (their clones are mounted read-only); null: none.</param>
/// <param name="CompiledEntry">The module's compile cache entry, opened read-only (and checked) by the daemon; null: none.</param>
public sealed record GuestHostFiles(
    string RootfsPath, string ModulePath, GuestInputPipe? Stdin, bool Stdout, bool Stderr, bool SharedOutput,
    IReadOnlyList<string> PreopenPaths, SandboxNamespaces Namespaces, IdmapUserNamespace? Idmap = null,
    IReadOnlyList<bool>? ReadOnlyPreopens = null, SafeHandle? CompiledEntry = null);

/// <summary>The descriptor numbers a guest host finds its files on, for its command line.</summary>
/// <param name="NamespaceFds">One per namespace to enter, in stage 1.</param>
/// <param name="PreopenFds">One per <see cref="GuestHostFiles.PreopenPaths"/>, in the same order.</param>
/// <param name="CompiledFd">Where <see cref="GuestHostFiles.CompiledEntry"/> is; -1 without one.</param>
public sealed record GuestHostFdNumbers(IReadOnlyList<int> NamespaceFds, IReadOnlyList<int> PreopenFds, int CompiledFd = -1)
{
    /// <summary>Where the guest host writes its report lines.</summary>
    public const int Report = 3;

    /// <summary>Where the guest host reads the daemon's commands.</summary>
    public const int Control = 4;

    /// <summary>The rootfs directory.</summary>
    public const int Rootfs = 5;

    /// <summary>The module, read-only.</summary>
    public const int Module = 6;

    /// <summary>The guest's stdout (a pipe or /dev/null).</summary>
    public const int Stdout = 7;

    /// <summary>The guest's stderr (a pipe or /dev/null).</summary>
    public const int Stderr = 8;

    /// <summary>The first number of the namespaces and preopens.</summary>
    public const int FirstExtra = 9;
}

/// <summary>
/// A guest host child of the daemon (docs/guest-host.md): spawned with exactly the descriptors it needs, claimed from
/// <see cref="ChildReaper"/> so only this object reaps it, signalled through a pidfd so a signal never reaches a reused pid.
/// Its report and output pipes and its exit are waited for on the shared <see cref="FdReactor"/>, never by a thread of
/// its own: a daemon with hundreds of guest hosts keeps its thread count.
/// </summary>
public sealed class GuestHostChild : IDisposable
{
    private readonly SafeFdHandle _pidfd;
    private readonly Lock _gate = new();
    private readonly PollRegistration _exitReadiness;
    private ChildExit? _exit;
    private bool _closeWhenReaped;

    private GuestHostChild(int pid, SafeFdHandle pidfd, AsyncFd report, FileStream control, AsyncFd? stdout, AsyncFd? stderr)
    {
        Pid = pid;
        _pidfd = pidfd;
        _exitReadiness = PollRegistration.TryCreate(pidfd, $"pidfd of guest host {pid}")
            ?? throw new InvalidOperationException($"epoll refused the pidfd of guest host {pid}");
        Report = report;
        Control = control;
        Stdout = stdout;
        Stderr = stderr;
    }

    /// <summary>The guest host program's file name; it is installed beside the shim (docs/guest-host.md).</summary>
    public const string ProgramName = "wasmkata-guest-host";

    /// <summary>
    /// The guest host program beside <paramref name="self"/> (the running shim, <c>/proc/self/exe</c>): the two are
    /// installed together, so the daemon never searches PATH for the program that runs guests.
    /// </summary>
    public static string ProgramBeside(string self) =>
        Path.Combine(Path.GetDirectoryName(self) ?? "/", ProgramName);

    /// <summary>The guest host's pid.</summary>
    public int Pid { get; }

    /// <summary>The read end of its report pipe (lines it writes), non-blocking.</summary>
    public AsyncFd Report { get; }

    /// <summary>The write end of its control pipe (lines it reads); disposing it tells the guest host the daemon is gone.</summary>
    public FileStream Control { get; }

    /// <summary>The read end of the guest's stdout pipe (also its stderr when shared), non-blocking, or null.</summary>
    public AsyncFd? Stdout { get; }

    /// <summary>The read end of the guest's stderr pipe, non-blocking, or null.</summary>
    public AsyncFd? Stderr { get; }

    /// <summary>
    /// Spawns <paramref name="program"/> with the argv <paramref name="argv"/> builds from the descriptor numbers, an empty
    /// environment and cwd <c>/</c>. Throws what opening a file or the spawn throws; nothing is left behind then.
    /// </summary>
    public static GuestHostChild Spawn(string program, GuestHostFiles files, Func<GuestHostFdNumbers, IReadOnlyList<string>> argv)
    {
        ArgumentNullException.ThrowIfNull(files);
        ArgumentNullException.ThrowIfNull(argv);
        if (!File.Exists(program))
        {
            throw new FileNotFoundException(
                $"{program} is missing: guest_isolation = \"process\" runs guests in {Path.GetFileName(program)}, which is installed beside the shim (README.md, Install)",
                program);
        }
        var owned = new List<SafeFdHandle>();
        SafeFdHandle? reportRead = null, controlWrite = null, stdoutRead = null, stderrRead = null, pidfd = null;
        FileStream? control = null;
        AsyncFd? report = null, stdout = null, stderr = null;
        var pid = 0;
        try
        {
            // Every source descriptor, by the child fd it becomes; "-1" sources are opened in the child.
            var sources = new List<(int Target, int Source, string? Path, int Flags)>();
            var (rr, rw) = Pipes.CreateRaw();
            reportRead = rr;
            owned.Add(rw);
            sources.Add((GuestHostFdNumbers.Report, rw.DangerousFd, null, 0));
            var (cr, cw) = Pipes.CreateRaw();
            controlWrite = cw;
            owned.Add(cr);
            sources.Add((GuestHostFdNumbers.Control, cr.DangerousFd, null, 0));
            sources.Add(files.Stdin?.ReadEnd is { } stdin ? (0, stdin.DangerousFd, null, 0) : (0, -1, "/dev/null", Interop.O_RDONLY));
            sources.Add((1, -1, "/dev/null", Interop.O_WRONLY));
            // Its own stderr is the daemon's (the shim log): a runtime crash message lands there, never in the guest's.
            sources.Add((2, 2, null, 0));
            sources.Add((GuestHostFdNumbers.Rootfs, OpenOwned(files.RootfsPath, Interop.O_RDONLY | Interop.O_DIRECTORY, owned), null, 0));
            sources.Add((GuestHostFdNumbers.Module, OpenOwned(files.ModulePath, Interop.O_RDONLY, owned), null, 0));
            if (files.Stdout || files.SharedOutput)
            {
                var (r, w) = Pipes.CreateRaw();
                stdoutRead = r;
                owned.Add(w);
                sources.Add((GuestHostFdNumbers.Stdout, w.DangerousFd, null, 0));
                if (files.SharedOutput)
                    sources.Add((GuestHostFdNumbers.Stderr, w.DangerousFd, null, 0));
            }
            else
            {
                sources.Add((GuestHostFdNumbers.Stdout, -1, "/dev/null", Interop.O_WRONLY));
            }
            if (files.Stderr && !files.SharedOutput)
            {
                var (r, w) = Pipes.CreateRaw();
                stderrRead = r;
                owned.Add(w);
                sources.Add((GuestHostFdNumbers.Stderr, w.DangerousFd, null, 0));
            }
            else if (!files.SharedOutput)
            {
                sources.Add((GuestHostFdNumbers.Stderr, -1, "/dev/null", Interop.O_WRONLY));
            }
            var next = GuestHostFdNumbers.FirstExtra;
            var namespaceFds = new List<int>();
            foreach (var fd in files.Namespaces.Descriptors)
            {
                namespaceFds.Add(next);
                sources.Add((next++, fd.DangerousFd, null, 0));
            }
            var preopenFds = new List<int>();
            for (var i = 0; i < files.PreopenPaths.Count; i++)
            {
                var path = files.PreopenPaths[i];
                preopenFds.Add(next);
                var fd = files.Idmap is { } idmap
                    ? CloneOwned(path, idmap, files.ReadOnlyPreopens?[i] == true, owned)
                    : OpenOwned(path, Interop.O_RDONLY | Interop.O_DIRECTORY, owned);
                sources.Add((next++, fd, null, 0));
            }

            var compiledFd = -1;
            if (files.CompiledEntry is { } compiled)
            {
                compiledFd = next;
                sources.Add((next++, (int)compiled.DangerousGetHandle(), null, 0));
            }

            var fds = Arrange(sources);
            var arguments = argv(new GuestHostFdNumbers(namespaceFds, preopenFds, compiledFd));
            pid = ChildReaper.SpawnClaimed(() => Spawner.Spawn(program, arguments, [], "/", fds, closeFrom: next));
            pidfd = new SafeFdHandle(Interop.PidfdOpen(pid), ownsHandle: true);
            if (pidfd.IsInvalid)
                UnixErrors.ThrowLast("pidfd_open", $"pid {pid}");
            control = Stream(Take(ref controlWrite), FileAccess.Write);
            // Each AsyncFd owns its fd from here on (and closes it if it cannot be made one).
            report = new AsyncFd(Take(ref reportRead), $"report pipe of guest host {pid}");
            stdout = stdoutRead is null ? null : new AsyncFd(Take(ref stdoutRead), $"stdout pipe of guest host {pid}");
            stderr = stderrRead is null ? null : new AsyncFd(Take(ref stderrRead), $"stderr pipe of guest host {pid}");
            return new GuestHostChild(pid, pidfd, report, control, stdout, stderr);
        }
        catch
        {
            reportRead?.Dispose();
            controlWrite?.Dispose();
            stdoutRead?.Dispose();
            stderrRead?.Dispose();
            control?.Dispose();
            report?.Dispose();
            stdout?.Dispose();
            stderr?.Dispose();
            pidfd?.Dispose();
            if (pid > 0)
            {
                Interop.Kill(pid, Interop.SIGKILL);
                ChildReaper.Release(pid);
            }
            throw;
        }
        finally
        {
            // The child holds its copies; ours of its ends must go, or its pipes never see EOF.
            foreach (var handle in owned)
                handle.Dispose();
        }
    }

    /// <summary>Sends <paramref name="signal"/>; false once it has been reaped (or the kernel refused).</summary>
    public bool Signal(int signal)
    {
        lock (_gate)
        {
            if (_exit is not null)
                return false;
            return Interop.PidfdSendSignal(_pidfd, signal) == 0;
        }
    }

    /// <summary>
    /// Completes once the guest host has exited, and reaps it: the pidfd turns readable at the exit (on the reactor),
    /// then <c>waitid(WNOHANG)</c> collects the status. Call once.
    /// </summary>
    public async Task<ChildExit> WaitForExitAsync(CancellationToken cancellationToken = default)
    {
        while (true)
        {
            if (TryReap() is { } exit)
                return exit;
            await _exitReadiness.WaitAsync(forRead: true, cancellationToken).ConfigureAwait(false);
        }
    }

    private ChildExit? TryReap()
    {
        if (ChildExit.TryReap(_pidfd, Pid) is not { } exit)
            return null;
        bool close;
        lock (_gate)
        {
            _exit = exit;
            close = _closeWhenReaped;
        }
        ChildReaper.Release(Pid);
        if (close)
            ClosePidfd();
        return exit;
    }

    /// <summary>Reads <c>/proc/PID/stat</c>: the CPU time (user and system) in ns; 0 once gone.</summary>
    public long CpuNs()
    {
        lock (_gate)
        {
            if (_exit is not null)
                return 0;
        }
        return ProcUsage.CpuNs(Pid);
    }

    /// <summary>
    /// Closes the pipes, and the pidfd once the guest host has been reaped (a guest host still running is killed; its
    /// waiter reaps it and keeps the pidfd until then).
    /// </summary>
    public void Dispose()
    {
        Control.Dispose();
        Report.Dispose();
        Stdout?.Dispose();
        Stderr?.Dispose();
        lock (_gate)
        {
            if (_exit is null)
            {
                Interop.PidfdSendSignal(_pidfd, Interop.SIGKILL);
                _closeWhenReaped = true;
                return;
            }
        }
        ClosePidfd();
    }

    private void ClosePidfd()
    {
        _exitReadiness.Dispose();
        _pidfd.Dispose();
    }

    private static int OpenOwned(string path, int flags, List<SafeFdHandle> owned)
    {
        var fd = Interop.Open(path, flags | Interop.O_CLOEXEC, 0);
        if (fd.IsInvalid)
            UnixErrors.ThrowLast("open", path);
        owned.Add(fd);
        return fd.DangerousFd;
    }

    // A detached mount lives as long as a descriptor of it: ours goes after the spawn, the guest host's at its exit, so
    // nothing is left in any mount table. rbind, so volumes mounted below a bind source are mapped too.
    private static int CloneOwned(string path, IdmapUserNamespace idmap, bool readOnly, List<SafeFdHandle> owned)
    {
        var mount = IdmappedMount.Clone(path, idmap, recursive: true, readOnly);
        owned.Add(mount.Handle);
        return mount.Handle.DangerousFd;
    }

    /// <summary>
    /// Two rounds of dup2: every source first to a number above all of them (so no target can clobber a source not yet
    /// copied), then each to its target; the spawn's closefrom removes the temporaries.
    /// </summary>
    private static List<ChildFd> Arrange(List<(int Target, int Source, string? Path, int Flags)> sources)
    {
        var above = Math.Max(sources.Max(s => s.Source), sources.Max(s => s.Target)) + 1;
        var fds = new List<ChildFd>();
        for (var i = 0; i < sources.Count; i++)
        {
            if (sources[i].Source >= 0)
                fds.Add(ChildFd.Dup(sources[i].Source, above + i));
        }
        for (var i = 0; i < sources.Count; i++)
        {
            var (target, source, path, flags) = sources[i];
            fds.Add(source >= 0 ? ChildFd.Dup(above + i, target) : ChildFd.Open(target, path!, flags));
        }
        return fds;
    }

    private static SafeFdHandle Take(ref SafeFdHandle? handle)
    {
        var taken = handle!;
        handle = null;
        return taken;
    }

    private static FileStream Stream(SafeFdHandle handle, FileAccess access)
    {
        var fd = handle.DangerousFd;
        handle.SetHandleAsInvalid();
        return new FileStream(new SafeFileHandle(fd, ownsHandle: true), access, bufferSize: 0);
    }
}
