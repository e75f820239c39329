using System.Globalization;
using WasmKata.Actors.Io;
using WasmKata.Engine;
using Xunit;

namespace WasmKata.Specs.Engine;

/// <summary>Our <c>fd_write</c>: stdout and stderr straight from linear memory on the guest's thread.</summary>
public sealed class FdWriteSpec : IClassFixture<EngineFixture>
{
    private readonly EngineFixture _fx;

    public FdWriteSpec(EngineFixture fx) => _fx = fx;

    /// <summary>
    /// One fd_write of FD with the iovecs at 0 (COUNT of them), nwritten at NWRITTEN; exits 100 + errno on failure,
    /// else with nwritten. Memory: 1 page; "hello" at 1024, "abc" at 2048, iovecs (1024,5) (1500,0) (2048,3).
    /// </summary>
    private static string OneWrite(int fd, int iovs, int count, int nwritten, string extraData = "") => $$"""
        (module
          (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
          (memory (export "memory") 1)
          (data (i32.const 0) "\00\04\00\00\05\00\00\00\dc\05\00\00\00\00\00\00\00\08\00\00\03\00\00\00")
          (data (i32.const 1024) "hello")
          (data (i32.const 2048) "abc")
          {{extraData}}
          (func (export "_start")
            (local $err i32)
            (local.set $err (call $fd_write (i32.const {{fd}}) (i32.const {{iovs}}) (i32.const {{count}}) (i32.const {{nwritten}})))
            (if (local.get $err) (then (call $proc_exit (i32.add (i32.const 100) (local.get $err)))))
            (call $proc_exit (i32.load (i32.const {{nwritten}})))))
        """;

    private GuestExit Run(string name, string wat, IGuestOutput? stdout, IGuestOutput? stderr = null, string? rootfs = null) =>
        GuestRunner.RunToEnd(_fx.Guest(name, wat, EngineFixture.Config(rootfs ?? _fx.NewRootfs()), stdout, stderr));

    [Fact]
    public void Fd_write_must_gather_every_iovec_in_order_and_report_the_total()
    {
        var stdout = new CapturedOutput();
        var stderr = new CapturedOutput();
        Assert.Equal(new GuestExit(8, null, false), Run("fdw-stdout", OneWrite(1, 0, 3, 100), stdout, stderr));
        Assert.Equal("helloabc", stdout.Text);
        Assert.Equal("", stderr.Text);

        Assert.Equal(new GuestExit(8, null, false), Run("fdw-stderr", OneWrite(2, 0, 3, 100), stdout, stderr));
        Assert.Equal("helloabc", stderr.Text);
    }

    [Fact]
    public void Fd_write_must_copy_on_the_guest_thread_itself()
    {
        var stdout = new ThreadRecordingOutput();
        Assert.Equal(new GuestExit(8, null, false), Run("fdw-stdout", OneWrite(1, 0, 3, 100), stdout));
        // GuestRunner names the thread it runs the guest on; no Wasmtime output thread is involved.
        Assert.Equal(["spec guest"], stdout.Threads.Distinct());
    }

    [Theory]
    [InlineData("buffer past the end", 24, 1, 100, """(data (i32.const 24) "\fa\ff\00\00\10\00\00\00")""")]
    [InlineData("second buffer past the end", 0, 2, 100, """(data (i32.const 8) "\00\00\01\00\01\00\00\00")""")]
    [InlineData("iovec array past the end", 65532, 1, 100, "")]
    [InlineData("nwritten past the end", 0, 1, 65534, "")]
    public void Fd_write_must_answer_efault_for_a_bad_pointer_and_write_nothing(string why, int iovs, int count, int nwritten, string data)
    {
        var stdout = new CapturedOutput();
        var exit = Run("fdw-efault-" + iovs.ToString(CultureInfo.InvariantCulture) + "-" + count.ToString(CultureInfo.InvariantCulture)
            + "-" + nwritten.ToString(CultureInfo.InvariantCulture), OneWrite(1, iovs, count, nwritten, data), stdout);
        Assert.True(exit == new GuestExit(121, null, false), $"{why}: {exit}");
        Assert.Equal("", stdout.Text);
    }

    [Fact]
    public void Fd_write_to_an_fd_that_is_not_open_must_answer_ebadf_from_wasmtime()
    {
        Assert.Equal(new GuestExit(108, null, false), Run("fdw-ebadf", OneWrite(9, 0, 3, 100), new CapturedOutput()));
    }

    [Fact]
    public void Fd_write_to_a_file_must_still_go_through_wasmtime_wasi()
    {
        const string wat = """
            (module
              (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
              (import "wasi_snapshot_preview1" "path_open"
                (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
              (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
              (memory (export "memory") 1)
              (data (i32.const 0) "\00\04\00\00\05\00\00\00\dc\05\00\00\00\00\00\00\00\08\00\00\03\00\00\00")
              (data (i32.const 512) "out.txt")
              (data (i32.const 1024) "hello")
              (data (i32.const 2048) "abc")
              (func (export "_start")
                (local $err i32)
                ;; fd 3 is the rootfs preopen; O_CREAT|O_TRUNC, rights fd_write.
                (local.set $err (call $path_open (i32.const 3) (i32.const 0) (i32.const 512) (i32.const 7)
                  (i32.const 9) (i64.const 64) (i64.const 0) (i32.const 0) (i32.const 200)))
                (if (local.get $err) (then (call $proc_exit (i32.add (i32.const 50) (local.get $err)))))
                (local.set $err (call $fd_write (i32.load (i32.const 200)) (i32.const 0) (i32.const 3) (i32.const 100)))
                (if (local.get $err) (then (call $proc_exit (i32.add (i32.const 100) (local.get $err)))))
                (call $proc_exit (i32.load (i32.const 100)))))
            """;
        var rootfs = _fx.NewRootfs();
        var stdout = new CapturedOutput();
        Assert.Equal(new GuestExit(8, null, false), Run("fdw-file", wat, stdout, null, rootfs));
        Assert.Equal("helloabc", File.ReadAllText(Path.Combine(rootfs, "out.txt")));
        Assert.Equal("", stdout.Text);
    }

    [Fact]
    public async Task Fd_write_must_be_byte_exact_through_a_small_buffer_that_blocks_the_guest()
    {
        // 48 iovecs of 4 KiB each over one 16 KiB buffer (pattern i % 251): one call blocks many times on the way.
        const int size = 48 * 4096;
        var wat = $$"""
            (module
              (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
              (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
              (memory (export "memory") 4)
              (func (export "_start")
                (local $i i32) (local $err i32)
                (block $filled
                  (loop $fill
                    (br_if $filled (i32.ge_u (local.get $i) (i32.const {{size}})))
                    (i32.store8 (i32.add (i32.const 65536) (local.get $i)) (i32.rem_u (local.get $i) (i32.const 251)))
                    (local.set $i (i32.add (local.get $i) (i32.const 1)))
                    (br $fill)))
                (local.set $i (i32.const 0))
                (block $done
                  (loop $iov
                    (br_if $done (i32.ge_u (local.get $i) (i32.const 48)))
                    (i32.store (i32.add (i32.const 1024) (i32.shl (local.get $i) (i32.const 3)))
                      (i32.add (i32.const 65536) (i32.shl (local.get $i) (i32.const 12))))
                    (i32.store (i32.add (i32.const 1028) (i32.shl (local.get $i) (i32.const 3))) (i32.const 4096))
                    (local.set $i (i32.add (local.get $i) (i32.const 1)))
                    (br $iov)))
                (local.set $err (call $fd_write (i32.const 1) (i32.const 1024) (i32.const 48) (i32.const 100)))
                (if (local.get $err) (then (call $proc_exit (i32.add (i32.const 100) (local.get $err)))))
                (call $proc_exit (i32.eq (i32.load (i32.const 100)) (i32.const {{size}})))))
            """;
        var stdout = new OutputBuffer(16 * 1024);
        var guest = _fx.Guest("fdw-big", wat, EngineFixture.Config(_fx.NewRootfs()), stdout);
        var run = GuestRunner.Start(guest);
        var received = new MemoryStream();
        var reading = Task.Run(async () =>
        {
            while (await stdout.ReadAsync() is { } chunk)
                received.Write(chunk.Span);
        });
        var exit = await Task.Run(() => run.Join());
        stdout.Complete();
        await reading.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(new GuestExit(1, null, false), exit);
        var bytes = received.ToArray();
        Assert.Equal(size, bytes.Length);
        for (var i = 0; i < size; i++)
        {
            if (bytes[i] != i % 251)
                Assert.Fail($"byte {i} is {bytes[i]}, not {i % 251}");
        }
    }

    private sealed class ThreadRecordingOutput : IGuestOutput
    {
        private readonly List<string?> _threads = [];

        public IReadOnlyList<string?> Threads
        {
            get
            {
                lock (_threads)
                    return [.. _threads];
            }
        }

        public void Write(ReadOnlySpan<byte> data)
        {
            lock (_threads)
                _threads.Add(Thread.CurrentThread.Name);
        }
    }
}
