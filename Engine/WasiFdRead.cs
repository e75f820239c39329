using Wasmtime;
using static WasmKata.Engine.WasiIovecs;

namespace WasmKata.Engine;

/// <summary>Our <c>fd_read</c>: fd 0 reads the stdin pipe on the guest's own thread, straight into linear memory.</summary>
/// <remarks>
/// Wasmtime's stdin keeps a thread of its own reading ahead for as long as the guest lives, even one that never reads.
/// Here the guest's thread blocks in read(2) only while the guest asks; a kill closes the pipe's write end (the
/// owner's part), so the read returns and the guest ends. Every other fd goes to Wasmtime's <c>fd_read</c> through the
/// passthrough instance (one copy). All iovecs are checked first: a bad pointer is EFAULT and nothing is read.
/// </remarks>
internal static class WasiFdRead
{
    private const int StdinChunk = 64 * 1024;

    public static int Read(Caller caller, int fd, uint iovsPtr, uint iovsCount, uint nreadPtr)
    {
        var context = caller.GetData() as GuestContext ?? throw new InvalidOperationException("the store was not created by WasmEngine");
        context.ThrowIfKilled();
        var memory = context.Memory ?? caller.GetMemory("memory") ?? throw new GuestStopException("fd_read: the module exports no memory");
        var checkedList = WasiIovecs.Check(memory, iovsPtr, iovsCount, nreadPtr, out var iovs, out var total);
        if (checkedList != ErrnoSuccess)
            return checkedList;

        int n;
        if (fd == 0 && context.IsStdio(0) && context.Stdin is { } stdin)
        {
            // One read(2), as readv would do it: whatever the pipe has, up to the room in all the buffers.
            var room = (int)Math.Min(total, StdinChunk);
            var rented = System.Buffers.ArrayPool<byte>.Shared.Rent(Math.Max(room, 1));
            try
            {
                using (context.Blocking())
                    n = room == 0 ? 0 : stdin.Read(rented, 0, room);
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException)
            {
                System.Buffers.ArrayPool<byte>.Shared.Return(rented);
                context.ThrowIfKilled();
                return ErrnoIo;
            }
            Scatter(rented.AsSpan(0, n), memory, iovs);
            System.Buffers.ArrayPool<byte>.Shared.Return(rented);
            context.ThrowIfKilled();
        }
        else
        {
            var wasi = context.Passthrough ?? throw new GuestStopException("fd_read: no WASI passthrough in this store");
            var want = (int)Math.Min(total, WasiFdWrite.ScratchChunk);
            WasiFdWrite.EnsureScratch(wasi.Scratch, WasiFdWrite.ScratchData + want);
            wasi.Scratch.WriteInt32(0, WasiFdWrite.ScratchData);
            wasi.Scratch.WriteInt32(4, want);
            var errno = wasi.FdRead(fd, 0, 1, 8);
            if (errno != ErrnoSuccess)
                return errno;
            n = wasi.Scratch.ReadInt32(8);
            Scatter(wasi.Scratch.GetSpan(WasiFdWrite.ScratchData, n), memory, iovs);
        }
        memory.WriteInt32(nreadPtr, n);
        return ErrnoSuccess;
    }

    private static void Scatter(ReadOnlySpan<byte> from, Memory memory, ReadOnlySpan<byte> iovs)
    {
        for (var i = 0; i < WasiIovecs.Count(iovs) && !from.IsEmpty; i++)
        {
            var (buf, whole) = WasiIovecs.At(iovs, i);
            var len = (int)Math.Min(whole, (uint)from.Length);
            from[..len].CopyTo(memory.GetSpan(buf, len));
            from = from[len..];
        }
    }
}
