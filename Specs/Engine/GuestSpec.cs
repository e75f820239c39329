using System.Diagnostics;
using System.IO.Pipes;
using WasmKata.Core.Plan;
using WasmKata.Engine;
using Xunit;

namespace WasmKata.Specs.Engine;

public sealed class GuestSpec : IClassFixture<EngineFixture>
{
    private readonly EngineFixture _fx;

    public GuestSpec(EngineFixture fx) => _fx = fx;

    [Fact]
    public void Hello_world_must_arrive_exactly_on_stdout()
    {
        var stdout = new CapturedOutput();
        var stderr = new CapturedOutput();
        var exit = GuestRunner.RunToEnd(_fx.Guest("hello", GuestWat.Hello, EngineFixture.Config(_fx.NewRootfs()), stdout, stderr));
        Assert.Equal(new GuestExit(0, null, false), exit);
        Assert.Equal("hello, world\n", stdout.Text);
        Assert.Equal("", stderr.Text);
    }

    [Fact]
    public void Args_and_env_must_arrive_exactly()
    {
        var config = new GuestConfig(
            ["/app/echo.wasm", "two words", "ünï", ""],
            [new("PATH", "/bin"), new("EQ", "a=b=c"), new("EMPTY", "")],
            _fx.NewRootfs(), false, "/", [], null);
        var stdout = new CapturedOutput();
        var exit = GuestRunner.RunToEnd(_fx.Guest("echo", GuestWat.Echo, config, stdout));
        Assert.Equal(0, exit.Status);
        Assert.Equal("/app/echo.wasm\ntwo words\nünï\n\n--\nPATH=/bin\nEQ=a=b=c\nEMPTY=\n", stdout.Text);
    }

    [Fact]
    public void Proc_exit_code_must_survive_for_every_value_0_to_255()
    {
        var rootfs = _fx.NewRootfs();
        for (var code = 0; code <= 255; code++)
        {
            var exit = GuestRunner.RunToEnd(_fx.Guest("exit", GuestWat.Exit, EngineFixture.Config(rootfs, code.ToString(System.Globalization.CultureInfo.InvariantCulture))));
            Assert.Equal(new GuestExit(code, null, false), exit);
        }
    }

    [Fact]
    public void Proc_exit_code_must_keep_the_low_8_bits_like_a_process()
    {
        var exit = GuestRunner.RunToEnd(_fx.Guest("exit", GuestWat.Exit, EngineFixture.Config(_fx.NewRootfs(), "257")));
        Assert.Equal(1, exit.Status);
    }

    [Fact]
    public void Normal_return_must_exit_0()
    {
        Assert.Equal(new GuestExit(0, null, false), GuestRunner.RunToEnd(_fx.Guest("return", GuestWat.Return, EngineFixture.Config(_fx.NewRootfs()))));
    }

    [Fact]
    public void Unreachable_must_exit_134_with_the_trap_text()
    {
        var exit = GuestRunner.RunToEnd(_fx.Guest("trap", GuestWat.Trap, EngineFixture.Config(_fx.NewRootfs())));
        Assert.Equal(new GuestExit(134, "wasm trap: wasm `unreachable` instruction executed", false), exit);
    }

    [Fact]
    public void Unknown_import_must_fail_instantiation_naming_it()
    {
        var guest = _fx.Engine.CreateGuest(_fx.Module("unknown-import", GuestWat.UnknownImport), EngineFixture.Config(_fx.NewRootfs()), new GuestStdio(null, null, null));
        var e = Assert.Throws<GuestStartException>(guest.Instantiate);
        Assert.StartsWith("cannot start wasm module ", e.Message);
        Assert.Contains("unknown import: `env::foo`", e.Message);
    }

    [Fact]
    public void Missing_start_must_fail_instantiation()
    {
        var guest = _fx.Engine.CreateGuest(_fx.Module("no-start", GuestWat.NoStart), EngineFixture.Config(_fx.NewRootfs()), new GuestStdio(null, null, null));
        Assert.Contains("missing `_start` export", Assert.Throws<GuestStartException>(guest.Instantiate).Message);
    }

    [Fact]
    public void Missing_working_directory_must_fail_instantiation()
    {
        var config = EngineFixture.Config(_fx.NewRootfs()) with { Cwd = "/no/such/dir" };
        var guest = _fx.Engine.CreateGuest(_fx.Module("return", GuestWat.Return), config, new GuestStdio(null, null, null));
        Assert.Contains("working directory /no/such/dir does not exist", Assert.Throws<GuestStartException>(guest.Instantiate).Message);
    }

    [Fact]
    public void File_in_the_rootfs_must_be_readable_relative_to_preopen_3()
    {
        var rootfs = _fx.NewRootfs();
        Directory.CreateDirectory(Path.Combine(rootfs, "etc"));
        File.WriteAllText(Path.Combine(rootfs, "etc", "motd"), "inside the rootfs\n");
        var stdout = new CapturedOutput();
        var exit = GuestRunner.RunToEnd(_fx.Guest("read-file", GuestWat.ReadFile, EngineFixture.Config(rootfs, "etc/motd", "3"), stdout));
        Assert.Equal(0, exit.Status);
        Assert.Equal("inside the rootfs\n", stdout.Text);
    }

    [Fact]
    public void Dot_dot_must_not_escape_the_rootfs()
    {
        var rootfs = _fx.NewRootfs();
        File.WriteAllText(Path.Combine(Path.GetDirectoryName(rootfs)!, "secret.txt"), "host secret\n");
        var stdout = new CapturedOutput();
        var exit = GuestRunner.RunToEnd(_fx.Guest("read-file", GuestWat.ReadFile, EngineFixture.Config(rootfs, "../secret.txt", "3"), stdout));
        Assert.NotEqual(0, exit.Status);
        Assert.False(exit.Killed);
        Assert.Null(exit.TrapMessage);
        Assert.Equal("", stdout.Text);
    }

    [Fact]
    public void Symlink_out_of_the_rootfs_must_not_be_followed()
    {
        var rootfs = _fx.NewRootfs();
        var outside = Path.Combine(Path.GetDirectoryName(rootfs)!, "outside-" + Guid.NewGuid().ToString("N") + ".txt");
        File.WriteAllText(outside, "host secret\n");
        File.CreateSymbolicLink(Path.Combine(rootfs, "link"), outside);
        var stdout = new CapturedOutput();
        var exit = GuestRunner.RunToEnd(_fx.Guest("read-file", GuestWat.ReadFile, EngineFixture.Config(rootfs, "link", "3"), stdout));
        Assert.NotEqual(0, exit.Status);
        Assert.Equal("", stdout.Text);
    }

    [Fact]
    public void Cwd_must_not_be_a_preopen_of_its_own()
    {
        var rootfs = _fx.NewRootfs();
        Directory.CreateDirectory(Path.Combine(rootfs, "app"));
        File.WriteAllText(Path.Combine(rootfs, "app", "conf"), "app config\n");
        var config = EngineFixture.Config(rootfs, "conf", "4") with { Cwd = "/app" };

        // fd 4 would be a "." preopen, which wasi-libc would pick for every absolute path: EBADF (8) says there is none.
        Assert.Equal(8, GuestRunner.RunToEnd(_fx.Guest("read-file", GuestWat.ReadFile, config, new CapturedOutput())).Status);
        var stdout = new CapturedOutput();
        Assert.Equal(0, GuestRunner.RunToEnd(_fx.Guest("read-file", GuestWat.ReadFile, config with { Args = ["guest.wasm", "app/conf", "3"] }, stdout)).Status);
        Assert.Equal("app config\n", stdout.Text);
    }

    [Fact]
    public void Cwd_on_a_mount_point_must_be_taken()
    {
        var data = _fx.NewRootfs();
        File.WriteAllText(Path.Combine(data, "x"), "mounted\n");
        var config = EngineFixture.Config(_fx.NewRootfs(), "x", "4") with { Cwd = "/out", Preopens = [new Preopen(data, "/out", ReadOnly: false)] };
        var stdout = new CapturedOutput();
        Assert.Equal(0, GuestRunner.RunToEnd(_fx.Guest("read-file", GuestWat.ReadFile, config, stdout)).Status);
        Assert.Equal("mounted\n", stdout.Text);
    }

    [Fact]
    public void Cwd_symlink_must_resolve_inside_the_rootfs()
    {
        var outside = _fx.NewRootfs();
        var rootfs = _fx.NewRootfs();
        File.CreateSymbolicLink(Path.Combine(rootfs, "app"), outside);
        var config = EngineFixture.Config(rootfs) with { Cwd = "/app" };
        var guest = _fx.Engine.CreateGuest(_fx.Module("return", GuestWat.Return), config, new GuestStdio(null, null, null));
        Assert.Contains("working directory /app does not exist", Assert.Throws<GuestStartException>(guest.Instantiate).Message);
    }

    [Fact]
    public void Extra_preopen_must_follow_the_rootfs()
    {
        var data = _fx.NewRootfs();
        File.WriteAllText(Path.Combine(data, "x"), "mounted\n");
        var config = EngineFixture.Config(_fx.NewRootfs(), "x", "4") with { Preopens = [new Preopen(data, "/data", ReadOnly: true)] };
        var stdout = new CapturedOutput();
        Assert.Equal(0, GuestRunner.RunToEnd(_fx.Guest("read-file", GuestWat.ReadFile, config, stdout)).Status);
        Assert.Equal("mounted\n", stdout.Text);
    }

    [Fact]
    public void Writable_rootfs_must_take_a_new_file()
    {
        var rootfs = _fx.NewRootfs();
        Assert.Equal(0, GuestRunner.RunToEnd(_fx.Guest("write-file", GuestWat.WriteFile, EngineFixture.Config(rootfs, "new.txt"))).Status);
        Assert.Equal("written\n", File.ReadAllText(Path.Combine(rootfs, "new.txt")));
    }

    [Fact]
    public void A_closed_stderr_must_not_reach_the_container_and_a_file_that_takes_fd_2_must_get_its_writes()
    {
        // Yosys does this: it closes stderr, and the scratch file it opens next is fd 2.
        var rootfs = _fx.NewRootfs();
        var stderr = new CapturedOutput();
        var exit = GuestRunner.RunToEnd(_fx.Guest("close-stderr", GuestWat.CloseStderrThenWriteFile, EngineFixture.Config(rootfs, "new.txt"), stderr: stderr));

        Assert.Equal(2, exit.Status);
        Assert.Equal("", stderr.Text);
        Assert.Equal("written\nafter close\n", File.ReadAllText(Path.Combine(rootfs, "new.txt")));
    }

    [Fact]
    public void Read_only_rootfs_must_refuse_a_new_file()
    {
        var rootfs = _fx.NewRootfs();
        var config = EngineFixture.Config(rootfs, "new.txt") with { RootfsReadOnly = true };
        var exit = GuestRunner.RunToEnd(_fx.Guest("write-file", GuestWat.WriteFile, config));
        Assert.NotEqual(0, exit.Status);
        Assert.False(File.Exists(Path.Combine(rootfs, "new.txt")));
    }

    [Fact]
    public void Memory_limit_must_refuse_memory_grow_and_the_guest_must_see_minus_1()
    {
        var config = EngineFixture.Config(_fx.NewRootfs(), "100") with { MemoryLimitBytes = 1 << 20 };
        var guest = _fx.Guest("grow", GuestWat.Grow, config);
        Assert.Equal(new GuestExit(42, null, false), GuestRunner.RunToEnd(guest));
        Assert.Equal(GuestWat.InitialMemoryBytes, guest.MemoryBytes);
    }

    [Fact]
    public void Without_a_memory_limit_memory_must_grow()
    {
        var guest = _fx.Guest("grow", GuestWat.Grow, EngineFixture.Config(_fx.NewRootfs(), "100"));
        Assert.Equal(GuestWat.InitialMemoryBytes, guest.MemoryBytes);
        Assert.Equal(new GuestExit(0, null, false), GuestRunner.RunToEnd(guest));
        Assert.Equal(GuestWat.InitialMemoryBytes + 100 * 65536, guest.MemoryBytes);
    }

    [Fact]
    public void Memory_limit_below_the_initial_memory_must_fail_instantiation()
    {
        var config = EngineFixture.Config(_fx.NewRootfs()) with { MemoryLimitBytes = 65536 };
        var guest = _fx.Engine.CreateGuest(_fx.Module("return", GuestWat.Return), config, new GuestStdio(null, null, null));
        Assert.Throws<GuestStartException>(guest.Instantiate);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    public void Poll_oneoff_clock_must_sleep_at_least_the_timeout(int mode)
    {
        var guest = _fx.Guest("sleep", GuestWat.Sleep, EngineFixture.Config(_fx.NewRootfs(), mode.ToString(System.Globalization.CultureInfo.InvariantCulture), "40"));
        var clock = Stopwatch.StartNew();
        var exit = GuestRunner.RunToEnd(guest);
        clock.Stop();
        Assert.Equal(10, exit.Status); // one clock event
        Assert.InRange(clock.ElapsedMilliseconds, 39, 1000);
    }

    [Fact]
    public void Poll_oneoff_with_an_fd_subscription_must_return_at_once()
    {
        var guest = _fx.Guest("sleep", GuestWat.Sleep, EngineFixture.Config(_fx.NewRootfs(), "3", "3600000"));
        var clock = Stopwatch.StartNew();
        var exit = GuestRunner.RunToEnd(guest);
        Assert.Equal(11, exit.Status); // one fd_read event
        Assert.InRange(clock.ElapsedMilliseconds, 0, 1000);
    }

    [Fact]
    public void Stdin_from_a_pipe_must_reach_the_guest_until_eof()
    {
        using var pipe = new AnonymousPipeServerStream(PipeDirection.Out);
        var stdout = new CapturedOutput();
        var guest = _fx.Guest("cat", GuestWat.Cat, EngineFixture.Config(_fx.NewRootfs()), stdout, null, $"/proc/self/fd/{pipe.GetClientHandleAsString()}");
        pipe.DisposeLocalCopyOfClientHandle();
        var run = GuestRunner.Start(guest);
        pipe.Write("piped input\n"u8);
        pipe.Dispose();
        Assert.Equal(3, run.Join().Status);
        Assert.Equal("piped input\n", stdout.Text);
    }

    [Fact]
    public void No_stdin_must_read_as_empty()
    {
        Assert.Equal(3, GuestRunner.RunToEnd(_fx.Guest("cat", GuestWat.Cat, EngineFixture.Config(_fx.NewRootfs()))).Status);
    }

    [Fact]
    public void A_throwing_output_must_not_close_the_stream()
    {
        var output = new FailOnceOutput();
        Assert.Equal(0, GuestRunner.RunToEnd(_fx.Guest("two-lines", GuestWat.TwoLines, EngineFixture.Config(_fx.NewRootfs()), output)).Status);
        Assert.Equal("two\n", output.Captured.Text);
    }

    [Fact]
    public void Run_must_refuse_a_second_run()
    {
        var guest = _fx.Guest("return", GuestWat.Return, EngineFixture.Config(_fx.NewRootfs()));
        GuestRunner.RunToEnd(guest);
        Assert.Throws<InvalidOperationException>(() => guest.Run());
    }

    [Fact]
    public void Run_must_refuse_a_guest_not_instantiated()
    {
        var guest = _fx.Engine.CreateGuest(_fx.Module("return", GuestWat.Return), EngineFixture.Config(_fx.NewRootfs()), new GuestStdio(null, null, null));
        Assert.Throws<InvalidOperationException>(() => guest.Run());
    }

    private sealed class FailOnceOutput : IGuestOutput
    {
        private int _calls;

        public CapturedOutput Captured { get; } = new();

        public void Write(ReadOnlySpan<byte> data)
        {
            if (Interlocked.Increment(ref _calls) == 1)
                throw new IOException("sink broke once");
            Captured.Write(data);
        }
    }
}
