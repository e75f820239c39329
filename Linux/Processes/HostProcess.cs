using WasmKata.Linux.Io;

namespace WasmKata.Linux.Processes;

/// <summary>How a child ended: an exit code, or the signal that killed it.</summary>
public readonly record struct ChildExit(int? ExitCode, int? Signal)
{
    /// <summary>Exited with code 0.</summary>
    public bool Succeeded => ExitCode == 0;

    /// <summary>"exit status 3" or "killed by signal 9".</summary>
    public override string ToString() => ExitCode is { } code ? $"exit status {code}" : $"killed by signal {Signal}";

    /// <summary>
    /// Reaps the child behind <paramref name="pidfd"/> if it has ended (<c>waitid(P_PIDFD, WNOHANG)</c>); null while it
    /// runs. <paramref name="pid"/> names it in the error.
    /// </summary>
    internal static unsafe ChildExit? TryReap(SafeFdHandle pidfd, int pid)
    {
        var info = default(Interop.SigInfo);
        int result;
        do
        {
            result = Interop.WaitId(Interop.P_PIDFD, (uint)pidfd.DangerousFd, &info, Interop.WEXITED | Interop.WNOHANG);
        }
        while (result < 0 && Interop.Errno.Last == Interop.Errno.EINTR);
        if (result < 0)
            UnixErrors.ThrowLast("waitid(P_PIDFD)", $"pid {pid}");
        if (info.Pid == 0)
            return null; // still running: WNOHANG leaves the siginfo zeroed
        return info.Code == Interop.CLD_EXITED ? new ChildExit(info.Status, null) : new ChildExit(null, info.Status);
    }
}

/// <summary>
/// A host program started natively with an exact argv and environment, its stdio on pipes, in a session of its own;
/// its exit is awaited through a pidfd on the fd reactor, so no thread blocks while it runs. Only this object reaps it:
/// the pid stays <see cref="ChildReaper.Claimed"/> until then.
/// </summary>
public sealed class HostProcess : IDisposable
{
    private readonly SafeFdHandle _pidfd;
    private readonly PollRegistration _exitPoll;
    private readonly Lock _gate = new();
    private ChildExit? _exit;
    private bool _disposed;

    private HostProcess(int pid, SafeFdHandle pidfd, AsyncFd stdin, AsyncFd stdout, AsyncFd stderr)
    {
        Pid = pid;
        _pidfd = pidfd;
        StandardInput = stdin;
        StandardOutput = stdout;
        StandardError = stderr;
        _exitPoll = PollRegistration.TryCreate(pidfd, $"pidfd of {pid}")
            ?? throw new InvalidOperationException("epoll refused a pidfd");

        // The one waiter on the pidfd; every caller awaits this task, cancellable each on its own.
        Exited = WatchExitAsync();
    }

    /// <summary>The child's pid; its session id and process group id are the same number.</summary>
    public int Pid { get; }

    /// <summary>Completes once the child has exited and been reaped.</summary>
    public Task<ChildExit> Exited { get; }

    /// <summary>The write end of the child's stdin; dispose it to send EOF.</summary>
    public AsyncFd StandardInput { get; }

    /// <summary>The read end of the child's stdout.</summary>
    public AsyncFd StandardOutput { get; }

    /// <summary>The read end of the child's stderr.</summary>
    public AsyncFd StandardError { get; }

    /// <summary>
    /// posix_spawn of <paramref name="path"/> (absolute, not searched) with <paramref name="argv"/> including argv[0],
    /// exactly <paramref name="environment"/> (KEY=VALUE entries, nothing inherited), cwd
    /// <paramref name="workingDirectory"/>, signals unblocked and at their defaults, no fd but 0-2 inherited.
    /// A program that cannot be executed fails here (e.g. <see cref="FileNotFoundException"/>).
    /// </summary>
    public static HostProcess Start(string path, IReadOnlyList<string> argv, IReadOnlyList<string> environment, string workingDirectory)
    {
        ArgumentNullException.ThrowIfNull(environment);
        Spawner.Validate(path, argv, workingDirectory);
        var (stdinRead, stdinWrite) = Pipes.CreateRaw();
        var (stdoutRead, stdoutWrite) = Pipes.CreateRaw();
        var (stderrRead, stderrWrite) = Pipes.CreateRaw();
        AsyncFd? stdin = null, stdout = null, stderr = null;
        var pid = 0;
        try
        {
            using (stdinRead)
            using (stdoutWrite)
            using (stderrWrite)
            {
                // The pipe fds are above 2 (this process always has 0-2 open), so no dup2 clobbers a later source.
                ChildFd[] fds =
                [
                    ChildFd.Dup(stdinRead.DangerousFd, 0),
                    ChildFd.Dup(stdoutWrite.DangerousFd, 1),
                    ChildFd.Dup(stderrWrite.DangerousFd, 2),
                ];
                pid = ChildReaper.SpawnClaimed(() => Spawner.Spawn(path, argv, environment, workingDirectory, fds, closeFrom: 3));
            }

            stdin = new AsyncFd(stdinWrite, $"stdin of {path}");
            stdout = new AsyncFd(stdoutRead, $"stdout of {path}");
            stderr = new AsyncFd(stderrRead, $"stderr of {path}");

            // Nobody else reaps a claimed child, so the pid cannot have been reused before this open.
            var pidfd = new SafeFdHandle(Interop.PidfdOpen(pid), ownsHandle: true);
            if (pidfd.IsInvalid)
                UnixErrors.ThrowLast("pidfd_open", $"pid {pid}");

            return new HostProcess(pid, pidfd, stdin, stdout, stderr);
        }
        catch
        {
            // AsyncFd owns its handle once created; disposing a SafeHandle twice is harmless.
            stdin?.Dispose();
            stdout?.Dispose();
            stderr?.Dispose();
            stdinWrite.Dispose();
            stdoutRead.Dispose();
            stderrRead.Dispose();

            if (pid > 0)
            {
                // Without a pidfd there is nothing to await; kill it and let ReapOrphans collect the zombie.
                Interop.Kill(-pid, Interop.SIGKILL);
                ChildReaper.Release(pid);
            }

            throw;
        }
    }

    /// <summary>Waits for the child to exit without holding a thread; it is reaped and its claim released.</summary>
    public Task<ChildExit> WaitForExitAsync(CancellationToken cancellationToken = default) => Exited.WaitAsync(cancellationToken);

    /// <summary>
    /// SIGKILL to the child and to every process left in its process group (its helpers that did not start
    /// a session of their own); a no-op once it has been reaped.
    /// </summary>
    public void Kill()
    {
        lock (_gate)
        {
            if (_exit is not null || _disposed)
                return;

            Interop.PidfdSendSignal(_pidfd, Interop.SIGKILL);

            // Unreaped, the child keeps its pid, and with it the group id, from being reused.
            Interop.Kill(-Pid, Interop.SIGKILL);
        }
    }

    /// <summary>Closes the pipes; a child that is still running is killed and reaped in the background.</summary>
    public void Dispose()
    {
        StandardInput.Dispose();
        StandardOutput.Dispose();
        StandardError.Dispose();
        Kill();
        Exited.ContinueWith(static (_, self) => ((HostProcess)self!).Close(), this, CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    private async Task<ChildExit> WatchExitAsync()
    {
        while (true)
        {
            if (TryReap() is { } exit)
                return exit;

            await _exitPoll.WaitAsync(forRead: true, CancellationToken.None).ConfigureAwait(false);
        }
    }

    private void Close()
    {
        lock (_gate)
        {
            if (_disposed)
                return;

            _disposed = true;
        }

        _exitPoll.Dispose();
        _pidfd.Dispose();
    }

    private ChildExit? TryReap()
    {
        lock (_gate)
        {
            if (_exit is { } known)
                return known;

            ObjectDisposedException.ThrowIf(_disposed, this);
            if (ChildExit.TryReap(_pidfd, Pid) is not { } exit)
                return null;
            _exit = exit;
            ChildReaper.Release(Pid);
            return _exit;
        }
    }
}
