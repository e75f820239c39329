using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace WasmKata.Linux.Processes;

/// <summary>Who is on the other end of a unix socket (SO_PEERCRED), as containerd's own ttrpc server checks it.</summary>
public static class PeerCredentials
{
    /// <summary>The peer's pid, uid and gid.</summary>
    public readonly record struct Peer(int Pid, uint Uid, uint Gid);

    /// <summary>Whether the peer runs as the same effective user as this process (root for containerd).</summary>
    public static bool IsSameUser(Socket socket, out Peer peer)
    {
        try
        {
            peer = Of(socket);
        }
        catch (SocketException)
        {
            peer = default;
            return false;
        }

        return peer.Uid == Self.EffectiveUserId;
    }

    /// <summary>The peer of a connected unix socket; <see cref="SocketException"/> when the kernel cannot say.</summary>
    public static Peer Of(Socket socket)
    {
        ArgumentNullException.ThrowIfNull(socket);
        var ucred = default(Interop.UCred);
        socket.GetRawSocketOption(Interop.SOL_SOCKET, Interop.SO_PEERCRED, MemoryMarshal.AsBytes(new Span<Interop.UCred>(ref ucred)));
        return new Peer(ucred.Pid, ucred.Uid, ucred.Gid);
    }
}
