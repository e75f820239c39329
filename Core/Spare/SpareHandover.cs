using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using WasmKata.Core.Bootstrap;
using WasmKata.Linux;
using WasmKata.Linux.Processes;

namespace WasmKata.Core.Spare;

/// <summary>The <c>start</c> side of spares: hand a listening socket to one, and leave one behind for the next start.</summary>
internal static class SpareHandover
{
    /// <summary>How long a spare has to take a hand-over in (validate it and leave its low priority).</summary>
    public static readonly TimeSpan TakeTimeout = TimeSpan.FromSeconds(2);

    /// <summary>How long a spare that took it may then need to serve: the rest of its start-up if it was still starting.</summary>
    public static readonly TimeSpan ServeTimeout = TimeSpan.FromSeconds(20);

    /// <summary>
    /// Hands <paramref name="listener"/> to the spare for <paramref name="message"/>'s key. Null once the spare serves it;
    /// otherwise why not, and then no spare holds it: one that does not answer in time is killed, so the caller's cold
    /// daemon is the only one ever to serve the socket.
    /// </summary>
    public static string? TryHandOver(HandoverMessage message, SafeHandle listener)
    {
        var path = SpareOptions.SocketPath(message.Key);
        if (!File.Exists(path))
            return "no spare";
        using var connection = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            connection.Connect(new UnixDomainSocketEndPoint(path));
        }
        catch (SocketException e)
        {
            return $"no live spare ({e.SocketErrorCode})";
        }

        var spare = 0;
        try
        {
            spare = PeerCredentials.Of(connection).Pid;
            FdPassing.Send(connection, message.Encode(), listener);
            var answer = ReadByte(connection, TakeTimeout);
            if (answer == HandoverMessage.Taken)
                answer = ReadByte(connection, ServeTimeout);
            if (answer == HandoverMessage.Adopted)
                return null;
            if (answer == HandoverMessage.Refused)
                return "spare refused: " + ReadRest(connection);
            Kill(spare);
            return $"spare {spare} closed the connection without an answer";
        }
        catch (Exception e) when (e is SocketException or IOException)
        {
            Kill(spare);
            return $"spare {spare} failed: {e.Message}";
        }
    }

    /// <summary>
    /// Starts a spare for <paramref name="key"/> unless one listens already. The spawning thread runs at nice 19 for the
    /// moment of the spawn: the spare inherits it from its very first instruction, so its start-up never competes with
    /// the container starting now; then back to 0, as containerd still waits for this process to exit.
    /// </summary>
    public static void StartIfNone(string key, string daemon, string argv0, ShimArgs args, IReadOnlyDictionary<string, string> env)
    {
        if (UnixListener.IsServing(SpareOptions.SocketPath(key)))
            return;
        var spareEnv = new Dictionary<string, string>(env) { [SpareOptions.KeyVariable] = key };
        var tid = Self.GetThreadId();
        try
        {
            ThreadNice.SetNice(tid, ThreadNice.Max);
            Daemon.Spawn(daemon, [argv0, .. (args with { Id = "" }).ToArgs("spare")], null, "/", spareEnv);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            // No spare this time: the next start of a sandbox tries again, and this one has its daemon already.
        }
        finally
        {
            try
            {
                ThreadNice.SetNice(tid, ThreadNice.Default);
            }
            catch (UnixException)
            {
                // Without CAP_SYS_NICE the way back is closed; this process ends in a moment anyway.
            }
        }
    }

    private static void Kill(int pid)
    {
        if (pid > 0)
            Signals.TrySend(pid, SignalNumber.Kill);
    }

    // A blocking socket: SO_RCVTIMEO bounds the wait (a timeout is a SocketException).
    private static int ReadByte(Socket connection, TimeSpan timeout)
    {
        connection.ReceiveTimeout = (int)timeout.TotalMilliseconds;
        Span<byte> one = stackalloc byte[1];
        return connection.Receive(one) == 1 ? one[0] : -1;
    }

    private static string ReadRest(Socket connection)
    {
        var buffer = new byte[4096];
        var length = 0;
        int read;
        while (length < buffer.Length && (read = connection.Receive(buffer.AsSpan(length))) > 0)
            length += read;
        return Encoding.UTF8.GetString(buffer, 0, length);
    }
}
