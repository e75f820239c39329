using Wasmtime;
using static WasmKata.Engine.WasiIovecs;

namespace WasmKata.Engine;

/// <summary>Our <c>fd_write</c>: fds 1 and 2 copy straight from linear memory into the guest's outputs.</summary>
/// <remarks>
/// Wasmtime's own stdout hands each write to another thread (and a copy) before our sink sees it; here the guest's
/// thread writes into the <see cref="IGuestOutput"/> itself, blocking there for back-pressure, so a live guest costs
/// one thread. Every other fd (and stdout or stderr with no output attached) goes to Wasmtime's <c>fd_write</c>
/// through a passthrough instance in the same store (same WASI fd table), with one copy into its memory.
/// All iovecs are checked before a byte moves: a bad pointer is EFAULT and nothing is written.
/// </remarks>
internal static class WasiFdWrite
{
    public static int Write(Caller caller, int fd, uint iovsPtr, uint iovsCount, uint nwrittenPtr)
    {
        var context = caller.GetData() as GuestContext ?? throw new InvalidOperationException("the store was not created by WasmEngine");
        var output = !context.IsStdio(fd) ? null : fd switch
        {
            1 => context.Stdout,
            2 => context.Stderr,
            _ => null,
        };
        context.ThrowIfKilled();
        var memory = context.Memory ?? caller.GetMemory("memory") ?? throw new GuestStopException("fd_write: the module exports no memory");

        // Every buffer is checked first; nothing below may grow the memory, so the spans stay valid.
        var checkedList = WasiIovecs.Check(memory, iovsPtr, iovsCount, nwrittenPtr, out var iovs, out var total);
        if (checkedList != ErrnoSuccess)
            return checkedList;
        if (total > int.MaxValue)
            return ErrnoInval;
        if (output is null)
        {
            var wasi = context.Passthrough ?? throw new GuestStopException("fd_write: no WASI passthrough in this store");
            return Passthrough(wasi, memory, fd, iovs, nwrittenPtr);
        }

        try
        {
            // A full buffer holds the guest here until there is room (or a kill aborts it): no ticks needed meanwhile.
            using var blocking = context.Blocking();
            for (var i = 0; i < WasiIovecs.Count(iovs); i++)
            {
                var (buf, len) = WasiIovecs.At(iovs, i);
                if (len > 0)
                    output.Write(memory.GetSpan(buf, (int)len));
            }
        }
        catch (Exception e) when (e is not GuestStopException)
        {
            // The sink failed (a pump that already completed): the guest sees an I/O error, the shim goes on.
            context.ThrowIfKilled();
            return ErrnoIo;
        }
        // A kill while the write was blocked aborts the buffer, which drops the rest: end the guest now.
        context.ThrowIfKilled();
        memory.WriteInt32(nwrittenPtr, (int)total);
        return ErrnoSuccess;
    }

    /// <summary>
    /// The passthrough instance: its own scratch memory (exported, as WASI needs) and Wasmtime's <c>fd_write</c>.
    /// Scratch layout: the iovec at 0, nwritten at 8, data from 16.
    /// </summary>
    internal const string PassthroughWat = """
        (module
          (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "fd_fdstat_get" (func $fd_fdstat_get (param i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "fd_close" (func $fd_close (param i32) (result i32)))
          (import "wasi_snapshot_preview1" "fd_renumber" (func $fd_renumber (param i32 i32) (result i32)))
          (memory (export "memory") 1)
          (func (export "fd_close") (param i32) (result i32)
            (call $fd_close (local.get 0)))
          (func (export "fd_renumber") (param i32 i32) (result i32)
            (call $fd_renumber (local.get 0) (local.get 1)))
          (func (export "fd_fdstat_get") (param i32 i32) (result i32)
            (call $fd_fdstat_get (local.get 0) (local.get 1)))
          (func (export "fd_write") (param i32 i32 i32 i32) (result i32)
            (call $fd_write (local.get 0) (local.get 1) (local.get 2) (local.get 3)))
          (func (export "fd_read") (param i32 i32 i32 i32) (result i32)
            (call $fd_read (local.get 0) (local.get 1) (local.get 2) (local.get 3))))
        """;

    internal const int ScratchData = 16;
    internal const int ScratchChunk = 1 << 20;
    private const int PageSize = 65536;

    // Gathers the guest's iovecs into the scratch memory a chunk at a time and lets Wasmtime write each chunk; a
    // short write ends the call with what was written, as writev does.
    private static int Passthrough(WasiPassthrough wasi, Memory memory, int fd, ReadOnlySpan<byte> iovs, uint nwrittenPtr)
    {
        long written = 0;
        var chunk = 0;
        var errno = ErrnoSuccess;
        var flushed = false;
        for (var i = 0; i < WasiIovecs.Count(iovs); i++)
        {
            var (buf, whole) = WasiIovecs.At(iovs, i);
            var len = (int)whole;
            while (len > 0)
            {
                var n = Math.Min(len, ScratchChunk - chunk);
                EnsureScratch(wasi.Scratch, ScratchData + chunk + n);
                memory.GetSpan(buf, n).CopyTo(wasi.Scratch.GetSpan(ScratchData + chunk, n));
                buf += (uint)n;
                len -= n;
                chunk += n;
                if (chunk == ScratchChunk)
                {
                    flushed = true;
                    if (!Flush(wasi, fd, ref chunk, ref written, out errno))
                        return Finish(memory, nwrittenPtr, written, errno);
                }
            }
        }
        // Also once with nothing at all: a bad fd must still get Wasmtime's answer (EBADF).
        if (chunk > 0 || !flushed)
            Flush(wasi, fd, ref chunk, ref written, out errno);
        return Finish(memory, nwrittenPtr, written, errno);
    }

    // Writes the gathered chunk; false when the call must end here (an error, or a short write).
    private static bool Flush(WasiPassthrough wasi, int fd, ref int chunk, ref long written, out int errno)
    {
        wasi.Scratch.WriteInt32(0, ScratchData);
        wasi.Scratch.WriteInt32(4, chunk);
        errno = wasi.FdWrite(fd, 0, 1, 8);
        if (errno != ErrnoSuccess)
            return false;
        var n = wasi.Scratch.ReadInt32(8);
        written += n;
        var full = n == chunk;
        chunk = 0;
        return full;
    }

    // An error after some bytes went out is reported as the short write it is.
    private static int Finish(Memory memory, uint nwrittenPtr, long written, int errno)
    {
        if (errno != ErrnoSuccess && written == 0)
            return errno;
        memory.WriteInt32(nwrittenPtr, (int)written);
        return ErrnoSuccess;
    }

    internal static void EnsureScratch(Memory scratch, long bytes)
    {
        var have = scratch.GetLength();
        if (bytes > have)
            scratch.Grow((bytes - have + PageSize - 1) / PageSize);
    }
}

/// <summary>Wasmtime's <c>fd_write</c>, <c>fd_read</c> and the rest we wrap, in one guest's store, with the scratch memory they use.</summary>
internal sealed record WasiPassthrough(
    Memory Scratch, Func<int, int, int, int, int> FdWrite, Func<int, int, int, int, int> FdRead, Func<int, int, int> FdStat,
    Func<int, int> FdClose, Func<int, int, int> FdRenumber);
