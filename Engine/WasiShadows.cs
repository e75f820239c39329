using System.Buffers.Binary;
using System.Diagnostics;
using Wasmtime;

namespace WasmKata.Engine;

/// <summary>Our replacements for the WASI preview 1 functions <c>proc_exit</c>, <c>poll_oneoff</c>, <c>fd_write</c> (<see cref="WasiFdWrite"/>) and <c>fd_read</c> (<see cref="WasiFdRead"/>), and the <c>fd_close</c> and <c>fd_renumber</c> they watch.</summary>
/// <remarks>
/// <c>proc_exit</c>: Wasmtime's loses exit codes of 126 and more (ExitCode is null for them). <c>poll_oneoff</c>:
/// Wasmtime's sleeps cannot be interrupted, and a killed guest must end within milliseconds. Both end the guest by
/// throwing, after recording why in the <see cref="GuestContext"/>.
/// </remarks>
internal static class WasiShadows
{
    private const string Wasi = "wasi_snapshot_preview1";

    private const int ErrnoSuccess = 0;
    private const int ErrnoBadf = 8;
    private const int ErrnoFault = 21;
    private const int ErrnoInval = 28;
    private const int ErrnoNotSup = 58;

    private const int SubscriptionSize = 48;
    private const uint MaxSubscriptions = 1 << 16;
    private const int EventSize = 32;
    private const byte EventClock = 0;
    private const byte EventFdRead = 1;
    private const byte EventFdWrite = 2;
    private const uint ClockRealtime = 0;
    private const uint ClockMonotonic = 1;
    private const ushort SubclockAbstime = 1;

    // A timeout this far out is a "forever" sleep; it also keeps the tick arithmetic far from overflow.
    private const ulong ForeverNs = 100UL * 365 * 24 * 3600 * 1_000_000_000;

    public static void Define(Linker linker)
    {
        linker.DefineFunction(Wasi, "proc_exit", (Caller caller, int code) =>
        {
            var context = Context(caller);
            context.TryExit(code);
            throw new GuestStopException("proc_exit");
        });
        linker.DefineFunction(Wasi, "poll_oneoff",
            (Caller caller, int subscriptions, int events, int count, int eventCountOut) =>
                PollOneoff(caller, (uint)subscriptions, (uint)events, (uint)count, (uint)eventCountOut));
        linker.DefineFunction(Wasi, "fd_write",
            (Caller caller, int fd, int iovs, int iovsCount, int nwritten) =>
                WasiFdWrite.Write(caller, fd, (uint)iovs, (uint)iovsCount, (uint)nwritten));
        linker.DefineFunction(Wasi, "fd_read",
            (Caller caller, int fd, int iovs, int iovsCount, int nread) =>
                WasiFdRead.Read(caller, fd, (uint)iovs, (uint)iovsCount, (uint)nread));
        // Wasmtime's own, watched: once fd 0, 1 or 2 is closed or renumbered, our fd_read and fd_write leave it to
        // Wasmtime's fd table (Yosys closes stderr, and the next file it opens is fd 2).
        linker.DefineFunction(Wasi, "fd_close", (Caller caller, int fd) =>
        {
            var context = Context(caller);
            var errno = Passthrough(context, "fd_close").FdClose(fd);
            if (errno == 0)
                context.DetachStdio(fd);
            return errno;
        });
        linker.DefineFunction(Wasi, "fd_renumber", (Caller caller, int from, int to) =>
        {
            var context = Context(caller);
            var errno = Passthrough(context, "fd_renumber").FdRenumber(from, to);
            if (errno == 0 && from != to)
            {
                context.DetachStdio(from);
                context.DetachStdio(to);
            }
            return errno;
        });
    }

    private static WasiPassthrough Passthrough(GuestContext context, string function)
    {
        context.ThrowIfKilled();
        return context.Passthrough ?? throw new GuestStopException($"{function}: no WASI passthrough in this store");
    }

    private static GuestContext Context(Caller caller) =>
        caller.GetData() as GuestContext ?? throw new InvalidOperationException("the store was not created by WasmEngine");

    private static int PollOneoff(Caller caller, uint subscriptionsPtr, uint eventsPtr, uint count, uint eventCountPtr)
    {
        var context = Context(caller);
        context.ThrowIfKilled();
        if (count == 0 || count > MaxSubscriptions)
            return ErrnoInval;
        var memory = caller.GetMemory("memory") ?? throw new GuestStopException("poll_oneoff: the module exports no memory");
        var length = (ulong)memory.GetLength();
        if (subscriptionsPtr + (ulong)count * SubscriptionSize > length
            || eventsPtr + (ulong)count * EventSize > length
            || eventCountPtr + 4UL > length)
        {
            return ErrnoFault;
        }

        var subscriptions = new Subscription[count];
        var input = memory.GetSpan(subscriptionsPtr, checked((int)(count * SubscriptionSize)));
        var start = Stopwatch.GetTimestamp();
        var immediate = false;
        var earliest = long.MaxValue;
        for (var i = 0; i < count; i++)
        {
            var s = Parse(input.Slice(i * SubscriptionSize, SubscriptionSize), context, start);
            if (s is null)
                return ErrnoInval;
            subscriptions[i] = s.Value;
            if (s.Value.Type != EventClock || s.Value.Error != ErrnoSuccess || s.Value.Deadline <= start)
                immediate = true;
            else
                earliest = Math.Min(earliest, s.Value.Deadline);
        }

        if (!immediate)
        {
            context.BeforeBlocking?.Invoke();
            SleepUntil(context, earliest);
        }
        context.ThrowIfKilled();

        // A fresh span: spans must not be kept across anything that could grow the memory.
        var now = Stopwatch.GetTimestamp();
        var output = memory.GetSpan(eventsPtr, checked((int)(count * EventSize)));
        var written = 0;
        foreach (var s in subscriptions)
        {
            var ready = s.Type != EventClock || s.Error != ErrnoSuccess || s.Deadline <= now;
            if (!ready)
                continue;
            var e = output.Slice(written++ * EventSize, EventSize);
            e.Clear();
            BinaryPrimitives.WriteUInt64LittleEndian(e, s.UserData);
            BinaryPrimitives.WriteUInt16LittleEndian(e[8..], s.Error);
            e[10] = s.Type;
        }
        memory.WriteInt32(eventCountPtr, written);
        return ErrnoSuccess;
    }

    private static Subscription? Parse(ReadOnlySpan<byte> raw, GuestContext context, long now)
    {
        var userData = BinaryPrimitives.ReadUInt64LittleEndian(raw);
        var tag = raw[8];
        switch (tag)
        {
            case EventFdRead or EventFdWrite:
                // Reported ready at once (nbytes 0): the guest's following read or write is where it waits. An fd that
                // is not open is an event with EBADF, as Wasmtime's own poll_oneoff reports it.
                var fd = BinaryPrimitives.ReadUInt32LittleEndian(raw[16..]);
                return new Subscription(userData, tag, IsOpen(fd, context) ? (ushort)ErrnoSuccess : (ushort)ErrnoBadf, now);
            case EventClock:
                var clock = BinaryPrimitives.ReadUInt32LittleEndian(raw[16..]);
                var timeout = BinaryPrimitives.ReadUInt64LittleEndian(raw[24..]);
                var flags = BinaryPrimitives.ReadUInt16LittleEndian(raw[40..]);
                if (clock is not (ClockRealtime or ClockMonotonic))
                    return new Subscription(userData, tag, ErrnoNotSup, now);
                return new Subscription(userData, tag, ErrnoSuccess, Deadline(clock, timeout, (flags & SubclockAbstime) != 0, context, now));
            default:
                return null;
        }
    }

    /// <summary>Whether the guest has <paramref name="fd"/> open: our own stdio, or an fd of Wasmtime's WASI context.</summary>
    private static bool IsOpen(uint fd, GuestContext context)
    {
        switch (fd)
        {
            case 0 when context.Stdin is not null:
            case 1 when context.Stdout is not null:
            case 2 when context.Stderr is not null:
                return true;
        }
        if (fd > int.MaxValue)
            return false;
        if (context.Passthrough is not { } wasi)
            return true; // Nothing to ask: leave it to the read or write that follows.
        var errno = wasi.FdStat((int)fd, 0);
        return errno != ErrnoBadf;
    }

    /// <summary>The Stopwatch timestamp at which a clock subscription fires.</summary>
    private static long Deadline(uint clock, ulong timeout, bool absolute, GuestContext context, long now)
    {
        ulong relativeNs;
        if (!absolute)
        {
            relativeNs = timeout;
        }
        else
        {
            // Wasmtime's monotonic clock counts from the creation of the store's WASI context; the realtime clock is
            // nanoseconds since the Unix epoch.
            var clockNow = clock == ClockMonotonic
                ? ToNs(now - context.MonotonicBase)
                : (ulong)(DateTimeOffset.UtcNow - DateTimeOffset.UnixEpoch).Ticks * 100;
            relativeNs = timeout > clockNow ? timeout - clockNow : 0;
        }
        if (relativeNs >= ForeverNs)
            return long.MaxValue;
        return now + (long)(relativeNs * (double)Stopwatch.Frequency / 1_000_000_000d);
    }

    private static ulong ToNs(long ticks) => ticks <= 0 ? 0 : (ulong)(ticks * (1_000_000_000d / Stopwatch.Frequency));

    private static void SleepUntil(GuestContext context, long deadline)
    {
        using var blocking = context.Blocking();
        while (true)
        {
            var remaining = deadline == long.MaxValue ? long.MaxValue : deadline - Stopwatch.GetTimestamp();
            if (remaining <= 0)
                return;
            // Round up: waking a little late is a valid sleep, waking early would make the guest spin.
            var ms = Math.Ceiling(remaining * 1000d / Stopwatch.Frequency);
            if (context.WaitForKill((int)Math.Clamp(ms, 1, int.MaxValue - 1)))
                return;
        }
    }

    private readonly record struct Subscription(ulong UserData, byte Type, ushort Error, long Deadline);
}
