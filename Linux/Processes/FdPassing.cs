using System.Buffers.Binary;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace WasmKata.Linux.Processes;

/// <summary>
/// One length-prefixed frame (a 4-byte little-endian length, then the payload) over a connected Unix stream socket,
/// with one file descriptor riding along as SCM_RIGHTS: how a shim's start hands its listening socket to a spare.
/// </summary>
public static class FdPassing
{
    private const int LengthSize = 4;

    // Room for a few fds, so a sender that attaches more than one is caught (and the extra fds closed) instead of
    // truncated by the kernel.
    private const int ControlSize = Interop.CmsgSpaceOneFd * 4;

    /// <summary>Writes the frame with <paramref name="fd"/> attached (none when null). Blocks until it is all sent.</summary>
    public static unsafe void Send(Socket socket, ReadOnlySpan<byte> payload, SafeHandle? fd)
    {
        ArgumentNullException.ThrowIfNull(socket);
        var frame = new byte[LengthSize + payload.Length];
        BinaryPrimitives.WriteInt32LittleEndian(frame, payload.Length);
        payload.CopyTo(frame.AsSpan(LengthSize));
        var added = false;
        fd?.DangerousAddRef(ref added);
        try
        {
            var control = stackalloc byte[Interop.CmsgSpaceOneFd];
            new Span<byte>(control, Interop.CmsgSpaceOneFd).Clear();
            var sent = 0;
            fixed (byte* data = frame)
            {
                while (sent < frame.Length)
                {
                    var iov = new Interop.IoVec { Base = data + sent, Length = (nuint)(frame.Length - sent) };
                    var message = new Interop.MsgHdr { Iov = &iov, IovLength = 1 };
                    if (sent == 0 && fd is not null)
                    {
                        // The fd travels with the first byte; the kernel keeps it with that byte for the reader.
                        var header = (Interop.CmsgHdr*)control;
                        header->Length = Interop.CmsgLenOneFd;
                        header->Level = Interop.SOL_SOCKET;
                        header->Type = Interop.SCM_RIGHTS;
                        *(int*)(control + Interop.CmsgHeaderSize) = (int)fd.DangerousGetHandle();
                        message.Control = control;
                        message.ControlLength = Interop.CmsgSpaceOneFd;
                    }

                    var written = Interop.SendMsg(socket.SafeHandle, &message, Interop.MSG_NOSIGNAL);
                    if (written < 0)
                    {
                        var errno = Interop.Errno.Last;
                        if (errno == Interop.Errno.EINTR)
                            continue;

                        UnixErrors.Throw(errno, "sendmsg");
                    }

                    sent += (int)written;
                }
            }
        }
        finally
        {
            if (added)
                fd!.DangerousRelease();
        }
    }

    /// <summary>
    /// Reads one frame of at most <paramref name="maxPayload"/> bytes within <paramref name="timeout"/>; the fd that
    /// came with it (close-on-exec) or null. Throws <see cref="InvalidDataException"/> for a frame that ends early,
    /// is too long or carries more than one fd, and <see cref="TimeoutException"/> when it does not arrive in time.
    /// </summary>
    public static (byte[] Payload, SafeSocketHandle? Fd) Receive(Socket socket, int maxPayload, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(socket);
        var deadline = DateTime.UtcNow + timeout;
        SafeSocketHandle? fd = null;
        try
        {
            var header = new byte[LengthSize];
            ReadExactly(socket, header, deadline, ref fd, "length");
            var length = BinaryPrimitives.ReadInt32LittleEndian(header);
            if (length < 0 || length > maxPayload)
                throw new InvalidDataException($"frame of {(uint)length} bytes is longer than the {maxPayload} allowed");

            var payload = new byte[length];
            ReadExactly(socket, payload, deadline, ref fd, "payload");
            return (payload, fd);
        }
        catch
        {
            fd?.Dispose();
            throw;
        }
    }

    private static unsafe void ReadExactly(Socket socket, byte[] buffer, DateTime deadline, ref SafeSocketHandle? fd, string part)
    {
        var control = stackalloc byte[ControlSize];
        var received = 0;
        fixed (byte* data = buffer)
        {
            while (received < buffer.Length)
            {
                var left = deadline - DateTime.UtcNow;
                if (left <= TimeSpan.Zero || !socket.Poll(left, SelectMode.SelectRead))
                    throw new TimeoutException($"no complete frame within the time allowed ({received} of {buffer.Length} {part} bytes)");

                new Span<byte>(control, ControlSize).Clear();
                var iov = new Interop.IoVec { Base = data + received, Length = (nuint)(buffer.Length - received) };
                var message = new Interop.MsgHdr { Iov = &iov, IovLength = 1, Control = control, ControlLength = ControlSize };
                var read = Interop.RecvMsg(socket.SafeHandle, &message, Interop.MSG_DONTWAIT | Interop.MSG_CMSG_CLOEXEC);
                if (read < 0)
                {
                    var errno = Interop.Errno.Last;
                    if (errno is Interop.Errno.EINTR or Interop.Errno.EAGAIN)
                        continue;

                    UnixErrors.Throw(errno, "recvmsg");
                }

                TakeFds(control, message.ControlLength, ref fd);
                if ((message.Flags & Interop.MSG_CTRUNC) != 0)
                    throw new InvalidDataException("frame carries more file descriptors than one");

                if (read == 0)
                    throw new InvalidDataException($"frame ends early: the peer closed after {received} of {buffer.Length} {part} bytes");

                received += (int)read;
            }
        }
    }

    // Every fd the kernel installed is ours to close: keep the first, close the others and refuse the frame.
    private static unsafe void TakeFds(byte* control, nuint controlLength, ref SafeSocketHandle? fd)
    {
        var extra = false;
        var offset = 0;
        while (offset + Interop.CmsgHeaderSize <= (int)controlLength)
        {
            var header = (Interop.CmsgHdr*)(control + offset);
            if (header->Length < Interop.CmsgHeaderSize)
                break;

            if (header->Level == Interop.SOL_SOCKET && header->Type == Interop.SCM_RIGHTS)
            {
                var count = ((int)header->Length - Interop.CmsgHeaderSize) / sizeof(int);
                for (var i = 0; i < count; i++)
                {
                    var received = *(int*)(control + offset + Interop.CmsgHeaderSize + (i * sizeof(int)));
                    if (fd is null)
                    {
                        fd = new SafeSocketHandle(received, ownsHandle: true);
                    }
                    else
                    {
                        Interop.Close(received);
                        extra = true;
                    }
                }
            }

            offset += ((int)header->Length + 7) & ~7;
        }

        if (extra)
            throw new InvalidDataException("frame carries more file descriptors than one");
    }
}
