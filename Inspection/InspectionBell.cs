using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace WasmKata.Inspection;

/// <summary>
/// A dormant shim's doorbell: a unix socket beside its directory entry (<c>PID.bell</c>, in the root-only directory).
/// A shim starts its inspection system (remoting, TLS, the cluster) only when a CLI first rings, so a sandbox nobody
/// inspects never pays for it. Ringing is connecting; the shim answers once its system is bound, with <c>PORT\n</c>, or
/// with <c>error: REASON\n</c>, and closes. Shared with the CLI as source.
/// </summary>
internal static class InspectionBell
{
    private const int MaxAnswerBytes = 256;

    /// <summary>Binds the bell at <paramref name="path"/> (replacing a stale one) and listens.</summary>
    public static Socket Listen(string path)
    {
        File.Delete(path);
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            socket.Bind(new UnixDomainSocketEndPoint(path));
            socket.Listen(16);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Answers every ring on <paramref name="listener"/> with what <paramref name="wake"/> gives (the port, or null when
    /// inspection could not start) until <paramref name="cancel"/>; closes the listener and deletes
    /// <paramref name="path"/> on the way out.
    /// </summary>
    public static async Task ServeAsync(Socket listener, string path, Func<Task<int?>> wake, CancellationToken cancel)
    {
        try
        {
            while (true)
            {
                var caller = await listener.AcceptAsync(cancel);
                _ = AnswerAsync(caller, wake);
            }
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            listener.Dispose();
            File.Delete(path);
        }
    }

    /// <summary>Rings the bell at <paramref name="path"/> and returns the port the shim answers with.</summary>
    /// <exception cref="OperationCanceledException">No answer within <paramref name="timeout"/>.</exception>
    /// <exception cref="IOException">The shim answered an error, or nothing.</exception>
    /// <exception cref="SocketException">Nobody listens there.</exception>
    public static async Task<int> RingAsync(string path, TimeSpan timeout)
    {
        using var deadline = new CancellationTokenSource(timeout);
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), deadline.Token);
        var buffer = new byte[MaxAnswerBytes];
        var length = 0;
        int read;
        while (length < buffer.Length && (read = await socket.ReceiveAsync(buffer.AsMemory(length), SocketFlags.None, deadline.Token)) > 0)
            length += read;
        var answer = Encoding.UTF8.GetString(buffer, 0, length).Trim();
        if (int.TryParse(answer, NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port is > 0 and <= 65535)
            return port;
        throw new IOException(answer.Length == 0 ? "the shim hung up without a port" : answer);
    }

    private static async Task AnswerAsync(Socket caller, Func<Task<int?>> wake)
    {
        using (caller)
        {
            try
            {
                var port = await wake();
                var answer = port is { } p ? p.ToString(CultureInfo.InvariantCulture) : "error: inspection did not start (see the shim's log)";
                await caller.SendAsync(Encoding.UTF8.GetBytes(answer + "\n"), SocketFlags.None);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                // The caller gave up first.
            }
        }
    }
}
