using System.Buffers.Binary;
using System.Net.Sockets;
using Google.Protobuf;
using WasmKata.Core.Protos.TaskApi;
using WasmKata.Core.Protos.Ttrpc;
using WasmKata.Linux.Processes;

namespace WasmKata.Core.Bootstrap;

/// <summary>
/// How <c>start</c> gets a socket for a group: bind a fresh one, or find a daemon that serves the path and will go on
/// serving it. A daemon that decided to exit unlinks its path (only while the path is still its own) and stops
/// listening before it answers anyone, so an exiting daemon's path is either gone or refuses; <c>start</c> then binds
/// again. A live daemon is asked over ttrpc (<see cref="ClaimMethod"/>), which it answers only while it serves and
/// which holds it from exiting until containerd's Create arrives.
/// </summary>
internal static class ShimSocket
{
    /// <summary>The daemon's own ttrpc service beside the task API.</summary>
    public const string LifecycleService = "wasmkata.shim.v1.Lifecycle";

    /// <summary>"Will you serve one more container?" OK: yes (and stay for it); Unavailable: the daemon is exiting.</summary>
    public const string ClaimMethod = "Claim";

    /// <summary>gRPC status code of an exiting daemon's answer.</summary>
    public const int Unavailable = 14;

    private const int Unimplemented = 12;
    private static readonly TimeSpan ClaimTimeout = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan GiveUpAfter = TimeSpan.FromSeconds(10);

    /// <summary>What a probe of a bound path found.</summary>
    public enum Probe
    {
        /// <summary>A daemon serves it and took the claim (or is an older daemon without claims, or too busy to answer).</summary>
        Live,

        /// <summary>Its daemon is exiting: it answered Unavailable, or closed the connection.</summary>
        Exiting,

        /// <summary>A socket file nobody listens on (its daemon died without cleaning up).</summary>
        Refused,

        /// <summary>The path is gone: bind again.</summary>
        Gone,
    }

    /// <summary>
    /// A fresh listening socket at <paramref name="socketPath"/>, or null when a live daemon serves it and took the
    /// claim for this container. Retries while a daemon is exiting; throws <see cref="TimeoutException"/> after 10 s.
    /// </summary>
    public static Socket? BindOrClaim(string socketPath, string id, Action<string>? trace = null)
    {
        var deadline = DateTime.UtcNow + GiveUpAfter;
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return UnixListener.Bind(socketPath);
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
            {
                // Somebody's socket file: ask who.
            }

            var before = SocketFile.Identify(socketPath);
            var found = before is null ? Probe.Gone : Claim(socketPath, id);
            trace?.Invoke($"attempt {attempt}: {found}");
            switch (found)
            {
                case Probe.Live:
                    return null;
                case Probe.Refused when before is { } stale:
                    // runc's rule (a socket nobody listens on is stale), but only that very file: a start racing
                    // with us may have bound a fresh one there meanwhile.
                    SocketFile.UnlinkIfSame(socketPath, stale);
                    break;
            }

            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"{socketPath}: its daemon neither serves nor lets go of it ({found})");
            // An exiting daemon has unlinked its path already or does so in a moment.
            if (found != Probe.Gone)
                Thread.Sleep(Math.Min(5 * (attempt + 1), 50));
        }
    }

    /// <summary>Connects to <paramref name="socketPath"/> and sends one Claim for container <paramref name="id"/>.</summary>
    public static Probe Claim(string socketPath, string id)
    {
        // Non-blocking: a Unix connect then succeeds at once or fails with EAGAIN (a full backlog), never waits.
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified) { Blocking = false };
        try
        {
            socket.Connect(new UnixDomainSocketEndPoint(socketPath));
        }
        catch (SocketException e)
        {
            if (SocketFile.Identify(socketPath) is null)
                return Probe.Gone;
            // A full backlog: somebody listens and is busy.
            return e.SocketErrorCode is SocketError.WouldBlock or SocketError.TryAgain ? Probe.Live : Probe.Refused;
        }

        socket.Blocking = true;
        socket.SendTimeout = (int)ClaimTimeout.TotalMilliseconds;
        socket.ReceiveTimeout = (int)ClaimTimeout.TotalMilliseconds;
        try
        {
            socket.Send(ClaimFrame(id));
            var header = new byte[10];
            if (!ReadExactly(socket, header))
                return Probe.Exiting;
            var length = BinaryPrimitives.ReadInt32BigEndian(header);
            if (length < 0 || length > 1 << 16)
                return Probe.Live;
            var body = new byte[length];
            if (!ReadExactly(socket, body))
                return Probe.Exiting;
            var code = StatusCode(body);
            return code is 0 or Unimplemented ? Probe.Live : code == Unavailable ? Probe.Exiting : Probe.Live;
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.TimedOut or SocketError.WouldBlock)
        {
            // Listening but not answering in time: a busy daemon that serves (an exiting one stops listening first).
            return Probe.Live;
        }
        catch (SocketException)
        {
            // Reset or closed under us: the daemon closed its listener with our connection still unaccepted.
            return Probe.Exiting;
        }
    }

    private static bool ReadExactly(Socket socket, byte[] buffer)
    {
        var read = 0;
        while (read < buffer.Length)
        {
            var n = socket.Receive(buffer, read, buffer.Length - read, SocketFlags.None);
            if (n == 0)
                return false;
            read += n;
        }
        return true;
    }

    /// <summary>One ttrpc Request frame (stream 1): the Claim, its payload a ConnectRequest for <paramref name="id"/>, a 3 s timeout.</summary>
    private static byte[] ClaimFrame(string id)
    {
        var body = new Request
        {
            Service = LifecycleService,
            Method = ClaimMethod,
            Payload = new ConnectRequest { Id = id }.ToByteString(),
            TimeoutNano = (long)ClaimTimeout.TotalNanoseconds,
        }.ToByteArray();
        var frame = new byte[10 + body.Length];
        BinaryPrimitives.WriteInt32BigEndian(frame, body.Length);
        BinaryPrimitives.WriteInt32BigEndian(frame.AsSpan(4), 1);
        frame[8] = 1; // Request
        body.CopyTo(frame, 10);
        return frame;
    }

    /// <summary>The status code of a ttrpc Response; 0 (OK) when it has none or does not decode.</summary>
    private static int StatusCode(byte[] response)
    {
        try
        {
            return Response.Parser.ParseFrom(response).Status?.Code ?? 0;
        }
        catch (InvalidProtocolBufferException)
        {
            return 0;
        }
    }
}
