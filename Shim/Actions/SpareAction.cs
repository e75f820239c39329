using System.Diagnostics;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using Serilog;
using WasmKata.Core.Bootstrap;
using WasmKata.Core.Spare;
using WasmKata.Linux;
using WasmKata.Linux.Processes;
using WasmKata.Shim.Hosting;

namespace WasmKata.Shim.Actions;

/// <summary>
/// A spare: a daemon that <c>start</c> leaves behind, at the lowest CPU priority and without a sandbox. It starts what
/// needs none (<see cref="DaemonCore.StartAsync"/>) and waits on its socket for the next <c>start</c> of the same key to
/// hand it a listening socket and the sandbox to serve; adopted, it is that sandbox's daemon like a cold one. Unadopted,
/// it exits after WASMKATA_SPARE_SECONDS, when containerd closes its events connection, or on SIGTERM, and removes its
/// socket. It takes one hand-over at most; a bad one is refused and it waits on.
/// </summary>
internal static class SpareAction
{
    /// <summary>How long a connected start has to send its whole message.</summary>
    private static readonly TimeSpan MessageTimeout = TimeSpan.FromSeconds(2);

    public static async Task<int> RunAsync(ShimArgs args)
    {
        var started = Stopwatch.StartNew();
        var key = Environment.GetEnvironmentVariable(SpareOptions.KeyVariable);
        var idle = SpareOptions.IdleTimeout();
        if (string.IsNullOrEmpty(key) || idle is null)
        {
            Console.Error.WriteLine($"containerd-shim-wasmkata-v2: spare needs {SpareOptions.KeyVariable} and spares on ({SpareOptions.SwitchVariable})");
            return 2;
        }

        Self.SetProcessName(SpareOptions.SpareName);
        ThreadNice.SetAllThreads(19);
        var socketPath = SpareOptions.SocketPath(key);
        Socket spareListener;
        try
        {
            Directory.CreateDirectory(SpareOptions.Directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            spareListener = UnixListener.Bind(socketPath, replaceStale: true);
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            return 0; // A live spare has this key already.
        }

        SweepLeftovers();
        var (config, configError) = DaemonCore.LoadConfig();
        var debug = args.Debug || config.LogLevel == "debug";
        Log.Logger = ShimLog.Create(null, debug);
        var expected = new HandoverMessage(key, "", "", args.Namespace, args.Address, StartAction.TtrpcAddress(args), args.PublishBinary, args.Debug,
            Environment.GetEnvironmentVariable(StartAction.ConfigEnvironmentVariable) ?? "");
        var signalled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var signals = new[] { PosixSignal.SIGTERM, PosixSignal.SIGINT }.Select(signal => PosixSignalRegistration.Create(signal, context =>
        {
            context.Cancel = true;
            signalled.TrySetResult();
        })).ToList();
        var starting = DaemonCore.StartAsync(args, config, debug);
        var rehearsal = RehearseAsync(starting);
        var ending = Task.WhenAny(signalled.Task, Task.Delay(idle.Value), ContainerdGoneAsync(starting));
        try
        {
            while (true)
            {
                var accepting = spareListener.AcceptAsync();
                if (await Task.WhenAny(accepting, ending) != accepting)
                    break;
                using var connection = await accepting;
                var (message, listener, refusal) = await Task.Run(() => Receive(connection, expected));
                if (message is null || listener is null)
                {
                    Answer(connection, HandoverMessage.Refused, refusal);
                    continue;
                }

                // Taken: no second start can reach this spare any more, and the next one may start a new spare.
                spareListener.Dispose();
                File.Delete(socketPath);
                signals.ForEach(s => s.Dispose());
                return await AdoptAsync(connection, message, listener, starting, rehearsal, started, debug, configError);
            }
        }
        finally
        {
            spareListener.Dispose();
        }

        // Unadopted: leave nothing behind.
        File.Delete(socketPath);
        signals.ForEach(s => s.Dispose());
        try
        {
            await using var core = await starting;
            await rehearsal;
        }
        catch (Exception)
        {
            // It never started (which is why it exits now): nothing to stop.
        }

        return 0;
    }

    private static async Task<int> AdoptAsync(
        Socket connection, HandoverMessage message, Socket listener, Task<DaemonCore> starting, Task rehearsal, Stopwatch started, bool debug,
        string? configError)
    {
        var handedOver = Stopwatch.StartNew();
        var answered = false;
        try
        {
            // First out of the lowest priority: from here on containerd waits for this process.
            ThreadNice.SetAllThreads(0);
            Self.SetProcessName(SpareOptions.DaemonName);
            Answer(connection, HandoverMessage.Taken, null);
            Directory.SetCurrentDirectory(message.Bundle);
            Log.Logger = ShimLog.Create(Path.Combine(message.Bundle, "log"), debug);
            var log = Log.Logger.ForContext("Namespace", message.Namespace);
            if (configError is not null)
                log.Warning("configuration: {Error}; using defaults", configError);
            log.Information("spare {Pid} adopted for {Id}, {Ms} ms after it started", Environment.ProcessId, message.Id, (long)started.Elapsed.TotalMilliseconds);
            await using var core = await starting;
            // A rehearsal still under way ends first (at normal priority now): the daemon then serves its sandbox alone.
            await rehearsal;
            return await core.ServeAsync(listener, message.Id, message.Bundle, log, handedOver, "the hand-over", () =>
            {
                answered = true;
                Answer(connection, HandoverMessage.Adopted, null);
            });
        }
        catch (Exception e)
        {
            Log.Fatal(e, "adopted spare failed");
            if (!answered)
                Answer(connection, HandoverMessage.Refused, e.Message);
            return 1;
        }
        finally
        {
            listener.Dispose();
            await Log.CloseAndFlushAsync();
        }
    }

    /// <summary>Once started, the spare rehearses a container (<see cref="SpareRehearsal"/>); it never fails.</summary>
    private static async Task RehearseAsync(Task<DaemonCore> starting)
    {
        DaemonCore core;
        try
        {
            core = await starting;
        }
        catch (Exception)
        {
            return; // A spare that cannot start exits for it.
        }

        await SpareRehearsal.RunAsync(core);
    }

    /// <summary>One hand-over from <paramref name="connection"/>: the message and the socket, or why it is refused.</summary>
    internal static (HandoverMessage? Message, Socket? Listener, string? Refusal) Receive(Socket connection, HandoverMessage expected)
    {
        SafeSocketHandle? fd = null;
        try
        {
            (var payload, fd) = FdPassing.Receive(connection, HandoverMessage.MaxBytes, MessageTimeout);
            var message = HandoverMessage.Parse(payload);
            message.Validate(expected);
            if (fd is null)
                throw new HandoverException("hand-over carries no listening socket");
            var listener = UnixListener.Adopt(fd, "the handed-over fd");
            return (message, listener, null);
        }
        catch (Exception e) when (e is HandoverException or InvalidDataException or TimeoutException or IOException or InvalidOperationException)
        {
            fd?.Dispose();
            return (null, null, e.Message);
        }
    }

    /// <summary>
    /// Removes what spares that were killed left in the spare directory: sockets nobody listens on (a spare binds and
    /// listens in one go, so only one older than a minute is surely stale) and the rehearsal folders of dead processes.
    /// </summary>
    private static void SweepLeftovers()
    {
        foreach (var entry in Directory.EnumerateFileSystemEntries(SpareOptions.Directory))
        {
            try
            {
                var name = Path.GetFileName(entry);
                if (name.EndsWith(".sock", StringComparison.Ordinal) && DateTime.UtcNow - File.GetLastWriteTimeUtc(entry) > TimeSpan.FromMinutes(1)
                    && !UnixListener.IsServing(entry))
                {
                    File.Delete(entry);
                }
                else if (name.StartsWith(SpareRehearsal.FolderPrefix, StringComparison.Ordinal)
                         && int.TryParse(name.AsSpan(SpareRehearsal.FolderPrefix.Length), out var pid) && pid > 0 && !Signals.IsAlive(pid))
                {
                    Directory.Delete(entry, recursive: true);
                }
            }
            catch (IOException)
            {
                // Gone meanwhile, or another spare sweeps too.
            }
        }
    }

    /// <summary>Completes when the spare is of no use: it could not start, or containerd closed its events connection.</summary>
    private static async Task ContainerdGoneAsync(Task<DaemonCore> starting)
    {
        var core = await starting;
        await core.Sink.Disconnected;
    }

    // The start waiting on the other end may have given up (then it killed this process, or it died): nothing to do.
    private static void Answer(Socket connection, byte answer, string? reason)
    {
        try
        {
            connection.Send([answer, .. Encoding.UTF8.GetBytes(reason ?? "")]);
            if (answer == HandoverMessage.Taken)
                return;
            connection.Shutdown(SocketShutdown.Send);
            // A Unix socket closed with unread input resets its peer, which may then lose the answer: read it away.
            var rest = new byte[4096];
            while (connection.Available > 0 && connection.Receive(rest) > 0)
            {
            }
        }
        catch (SocketException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
    }
}
