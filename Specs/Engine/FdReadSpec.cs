using System.IO.Pipes;
using System.Text;
using WasmKata.Engine;
using Xunit;

namespace WasmKata.Specs.Engine;

/// <summary>Our <c>fd_read</c>: stdin on the guest's thread, every other fd through Wasmtime's WASI.</summary>
public sealed class FdReadSpec : IClassFixture<EngineFixture>
{
    private readonly EngineFixture _fx;

    public FdReadSpec(EngineFixture fx) => _fx = fx;

    /// <summary>
    /// Opens "in.txt" (FD -1) or reads FD; one fd_read with two iovecs (1024,3) (2048,100), nread at 100; then writes
    /// what it read to stdout (3 bytes, then the rest) and exits with nread, or 100 + errno.
    /// </summary>
    private static string ReadOnce(int fd, int iovs) => $$"""
        (module
          (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "path_open"
            (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
          (memory (export "memory") 1)
          (data (i32.const 0) "\00\04\00\00\03\00\00\00\00\08\00\00\64\00\00\00")
          (data (i32.const 512) "in.txt")
          (func (export "_start")
            (local $err i32) (local $fd i32) (local $n i32)
            (local.set $fd (i32.const {{fd}}))
            (if (i32.lt_s (local.get $fd) (i32.const 0))
              (then
                (local.set $err (call $path_open (i32.const 3) (i32.const 0) (i32.const 512) (i32.const 6)
                  (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 200)))
                (if (local.get $err) (then (call $proc_exit (i32.add (i32.const 50) (local.get $err)))))
                (local.set $fd (i32.load (i32.const 200)))))
            (local.set $err (call $fd_read (local.get $fd) (i32.const {{iovs}}) (i32.const 2) (i32.const 100)))
            (if (local.get $err) (then (call $proc_exit (i32.add (i32.const 100) (local.get $err)))))
            (local.set $n (i32.load (i32.const 100)))
            ;; Echo: iovec (1024, min(n,3)) then (2048, n-3).
            (i32.store (i32.const 300) (i32.const 1024))
            (i32.store (i32.const 304) (select (local.get $n) (i32.const 3) (i32.lt_u (local.get $n) (i32.const 3))))
            (i32.store (i32.const 308) (i32.const 2048))
            (i32.store (i32.const 312) (select (i32.const 0) (i32.sub (local.get $n) (i32.const 3)) (i32.lt_u (local.get $n) (i32.const 3))))
            (drop (call $fd_write (i32.const 1) (i32.const 300) (i32.const 2) (i32.const 400)))
            (call $proc_exit (local.get $n))))
        """;

    [Fact]
    public void Fd_read_of_a_file_must_scatter_into_the_iovecs_through_wasmtime_wasi()
    {
        var rootfs = _fx.NewRootfs();
        File.WriteAllText(Path.Combine(rootfs, "in.txt"), "abcdefgh");
        var stdout = new CapturedOutput();
        var exit = GuestRunner.RunToEnd(_fx.Guest("fdr-file", ReadOnce(-1, 0), EngineFixture.Config(rootfs), stdout));
        Assert.Equal(new GuestExit(8, null, false), exit);
        Assert.Equal("abcdefgh", stdout.Text);
    }

    [Fact]
    public void Fd_read_of_stdin_must_read_the_pipe_on_the_guest_thread()
    {
        using var pipe = new AnonymousPipeServerStream(PipeDirection.Out);
        var stdout = new CapturedOutput();
        var guest = _fx.Guest("fdr-stdin", ReadOnce(0, 0), EngineFixture.Config(_fx.NewRootfs()), stdout, null,
            $"/proc/self/fd/{pipe.GetClientHandleAsString()}");
        pipe.DisposeLocalCopyOfClientHandle();
        pipe.Write(Encoding.ASCII.GetBytes("xyz12"));
        pipe.Flush();
        var exit = GuestRunner.RunToEnd(guest);
        Assert.Equal(new GuestExit(5, null, false), exit);
        Assert.Equal("xyz12", stdout.Text);
    }

    [Fact]
    public void Fd_read_must_answer_efault_for_an_iovec_array_past_the_end()
    {
        var rootfs = _fx.NewRootfs();
        File.WriteAllText(Path.Combine(rootfs, "in.txt"), "abcdefgh");
        var stdout = new CapturedOutput();
        var exit = GuestRunner.RunToEnd(_fx.Guest("fdr-efault", ReadOnce(-1, 65530), EngineFixture.Config(rootfs), stdout));
        Assert.Equal(new GuestExit(121, null, false), exit);
        Assert.Equal("", stdout.Text);
    }

    [Fact]
    public void Fd_read_of_an_fd_that_is_not_open_must_answer_ebadf_from_wasmtime()
    {
        var exit = GuestRunner.RunToEnd(_fx.Guest("fdr-ebadf", ReadOnce(9, 0), EngineFixture.Config(_fx.NewRootfs()), new CapturedOutput()));
        Assert.Equal(new GuestExit(108, null, false), exit);
    }
}
