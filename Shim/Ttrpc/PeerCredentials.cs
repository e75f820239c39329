using System.Buffers.Binary;
using System.Net.Sockets;

namespace WasmKata.Shim.Ttrpc;

/// <summary>Who is on the other end of a unix socket (SO_PEERCRED), as containerd's own ttrpc server checks it.</summary>
internal static class PeerCredentials
{
    private const int SolSocket = 1;
    private const int SoPeerCred = 17;

    /// <summary>The peer's pid, uid and gid.</summary>
    public readonly record struct Peer(int Pid, uint Uid, uint Gid);

    /// <summary>Whether the peer runs as the same effective user as this process (root for containerd).</summary>
    public static bool IsSameUser(Socket socket, out Peer peer)
    {
        Span<byte> ucred = stackalloc byte[12];
        try
        {
            socket.GetRawSocketOption(SolSocket, SoPeerCred, ucred);
        }
        catch (SocketException)
        {
            peer = default;
            return false;
        }
        peer = new Peer(
            BinaryPrimitives.ReadInt32LittleEndian(ucred),
            BinaryPrimitives.ReadUInt32LittleEndian(ucred[4..]),
            BinaryPrimitives.ReadUInt32LittleEndian(ucred[8..]));
        return peer.Uid == WasmKata.Linux.Self.EffectiveUserId;
    }
}
