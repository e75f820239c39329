using WasmKata.Engine;
using Xunit;

namespace WasmKata.Specs.Engine;

/// <summary>Our <c>poll_oneoff</c>: fd subscriptions on fds that are not open are events with EBADF.</summary>
public sealed class PollOneoffSpec : IClassFixture<EngineFixture>
{
    private readonly EngineFixture _fx;

    public PollOneoffSpec(EngineFixture fx) => _fx = fx;

    /// <summary>
    /// One poll_oneoff of a single fd_read subscription on FD (userdata 7); exits with 100 + errno when the call
    /// fails, else nevents * 10 + the event's error (99 when its userdata or type is wrong).
    /// </summary>
    private static string PollRead(int fd) => $$"""
        (module
          (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
          (memory (export "memory") 1)
          (func (export "_start")
            (local $err i32)
            (i64.store (i32.const 256) (i64.const 7))
            (i32.store8 (i32.const 264) (i32.const 1))
            (i32.store (i32.const 272) (i32.const {{fd}}))
            (local.set $err (call $poll_oneoff (i32.const 256) (i32.const 512) (i32.const 1) (i32.const 600)))
            (if (local.get $err) (then (call $proc_exit (i32.add (i32.const 100) (local.get $err)))))
            (if (i32.ne (i32.load (i32.const 600)) (i32.const 1)) (then (call $proc_exit (i32.mul (i32.load (i32.const 600)) (i32.const 10)))))
            (if (i64.ne (i64.load (i32.const 512)) (i64.const 7)) (then (call $proc_exit (i32.const 99))))
            (if (i32.ne (i32.load8_u (i32.const 522)) (i32.const 1)) (then (call $proc_exit (i32.const 99))))
            (call $proc_exit (i32.add (i32.const 10) (i32.load16_u (i32.const 520))))))
        """;

    [Fact]
    public void A_read_subscription_on_a_closed_fd_must_be_an_event_with_ebadf()
    {
        var exit = GuestRunner.RunToEnd(_fx.Guest("poll-badf", PollRead(99), EngineFixture.Config(_fx.NewRootfs())));
        Assert.Equal(new GuestExit(10 + 8, null, false), exit);
    }

    [Fact]
    public void A_read_subscription_on_an_open_preopened_directory_fd_must_be_ready_without_error()
    {
        // fd 3 is the rootfs preopen: open, so the subscription is ready at once with no error.
        var exit = GuestRunner.RunToEnd(_fx.Guest("poll-open", PollRead(3), EngineFixture.Config(_fx.NewRootfs())));
        Assert.Equal(new GuestExit(10, null, false), exit);
    }
}
