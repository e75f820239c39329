using System.Buffers.Binary;
using System.Diagnostics;
using System.IO.Pipes;
using System.Security.Cryptography;
using WasmKata.Actors.Io;
using WasmKata.Engine;
using Xunit;

namespace WasmKata.Specs.Engine;

/// <summary>Latency specs run alone, so other specs do not steal the 2 cores they time.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class EngineTimingCollection
{
    public const string Name = "engine timing";
}

[Collection(EngineTimingCollection.Name)]
public sealed class GuestKillSpec : IClassFixture<EngineFixture>
{
    private static readonly TimeSpan MarkerTimeout = TimeSpan.FromSeconds(10);
    private const long KillBudgetMs = 100;

    private readonly EngineFixture _fx;

    public GuestKillSpec(EngineFixture fx) => _fx = fx;

    [Fact]
    public void Kill_must_report_exit_137_when_guest_is_spinning()
    {
        var stdout = new CapturedOutput();
        var guest = _fx.Guest("spin", GuestWat.Spin, EngineFixture.Config(_fx.NewRootfs()), stdout);
        var run = GuestRunner.Start(guest);
        Assert.True(stdout.WaitFor("spinning", MarkerTimeout));

        var (exit, ms) = KillAndJoin(guest, run, 9);
        Assert.Equal(new GuestExit(137, null, true), exit);
        Assert.InRange(ms, 0, KillBudgetMs);
    }

    [Fact]
    public void Sigterm_must_report_exit_143()
    {
        var stdout = new CapturedOutput();
        var guest = _fx.Guest("spin", GuestWat.Spin, EngineFixture.Config(_fx.NewRootfs()), stdout);
        var run = GuestRunner.Start(guest);
        Assert.True(stdout.WaitFor("spinning", MarkerTimeout));

        var (exit, ms) = KillAndJoin(guest, run, 15);
        Assert.Equal(new GuestExit(143, null, true), exit);
        Assert.InRange(ms, 0, KillBudgetMs);
    }

    [Fact]
    public void Kill_must_end_a_guest_sleeping_an_hour_in_poll_oneoff()
    {
        var stdout = new CapturedOutput();
        var guest = _fx.Guest("sleep", GuestWat.Sleep, EngineFixture.Config(_fx.NewRootfs(), "0", "3600000"), stdout);
        var run = GuestRunner.Start(guest);
        Assert.True(stdout.WaitFor("sleeping", MarkerTimeout));

        var (exit, ms) = KillAndJoin(guest, run, 9);
        Assert.Equal(new GuestExit(137, null, true), exit);
        Assert.InRange(ms, 0, KillBudgetMs);
    }

    [Fact]
    public async Task Kill_must_end_a_guest_blocked_on_a_full_output_buffer_when_the_buffer_is_aborted()
    {
        var stdout = new OutputBuffer(64 * 1024);
        var stderr = new CapturedOutput();
        var guest = _fx.Guest("flood", GuestWat.Flood, EngineFixture.Config(_fx.NewRootfs(), "1000000"), stdout, stderr);
        var run = GuestRunner.Start(guest);
        Assert.True(stderr.WaitFor("flooding", MarkerTimeout));
        Assert.True(SpinWait.SpinUntil(() => stdout.BufferedBytes >= stdout.Capacity, MarkerTimeout));

        var clock = Stopwatch.StartNew();
        guest.Kill(9);
        stdout.Abort();
        var exit = run.Join();
        clock.Stop();
        Assert.Equal(new GuestExit(137, null, true), exit);
        Assert.InRange(clock.ElapsedMilliseconds, 0, KillBudgetMs);
        Assert.Equal(stdout.Capacity, (await Drain(stdout)).Length);
    }

    [Fact]
    public void Kill_must_end_a_guest_blocked_reading_stdin_when_the_pipe_is_closed()
    {
        var pipe = new AnonymousPipeServerStream(PipeDirection.Out);
        var stderr = new CapturedOutput();
        var guest = _fx.Guest("cat", GuestWat.Cat, EngineFixture.Config(_fx.NewRootfs()), null, stderr, $"/proc/self/fd/{pipe.GetClientHandleAsString()}");
        pipe.DisposeLocalCopyOfClientHandle();
        var run = GuestRunner.Start(guest);
        Assert.True(stderr.WaitFor("reading", MarkerTimeout));

        var clock = Stopwatch.StartNew();
        guest.Kill(9);
        pipe.Dispose();
        var exit = run.Join();
        clock.Stop();
        // At EOF the guest calls proc_exit(3), but the kill came first.
        Assert.Equal(new GuestExit(137, null, true), exit);
        Assert.InRange(clock.ElapsedMilliseconds, 0, KillBudgetMs);
    }

    [Fact]
    public void Kill_before_run_must_report_the_signal_without_running_the_guest()
    {
        var stdout = new CapturedOutput();
        var guest = _fx.Guest("hello", GuestWat.Hello, EngineFixture.Config(_fx.NewRootfs()), stdout);
        guest.Kill(15);
        Assert.Equal(new GuestExit(143, null, true), GuestRunner.RunToEnd(guest));
        Assert.Equal("", stdout.Text);
    }

    [Fact]
    public void Kill_before_instantiate_must_report_the_signal()
    {
        var guest = _fx.Engine.CreateGuest(_fx.Module("hello", GuestWat.Hello), EngineFixture.Config(_fx.NewRootfs()), new GuestStdio(null, null, null));
        guest.Kill(9);
        guest.Instantiate();
        Assert.Equal(new GuestExit(137, null, true), GuestRunner.RunToEnd(guest));
    }

    [Fact]
    public void Kill_during_a_spinning_start_function_must_end_instantiation_and_report_the_signal()
    {
        var stdout = new CapturedOutput();
        var guest = _fx.Engine.CreateGuest(_fx.Module("spin-in-start", GuestWat.SpinInStart), EngineFixture.Config(_fx.NewRootfs()), new GuestStdio(null, stdout, null));
        Exception? failure = null;
        var instantiating = new Thread(() =>
        {
            try
            {
                guest.Instantiate();
            }
            catch (Exception e)
            {
                failure = e;
            }
        });
        instantiating.Start();
        Assert.True(stdout.WaitFor("starting", MarkerTimeout));

        var clock = Stopwatch.StartNew();
        guest.Kill(9);
        Assert.True(instantiating.Join(MarkerTimeout));
        clock.Stop();
        Assert.Null(failure);
        Assert.InRange(clock.ElapsedMilliseconds, 0, KillBudgetMs);
        Assert.Equal(new GuestExit(137, null, true), GuestRunner.RunToEnd(guest));
    }

    [Fact]
    public void Kill_must_be_idempotent_and_keep_the_first_signal()
    {
        var stdout = new CapturedOutput();
        var guest = _fx.Guest("spin", GuestWat.Spin, EngineFixture.Config(_fx.NewRootfs()), stdout);
        var run = GuestRunner.Start(guest);
        Assert.True(stdout.WaitFor("spinning", MarkerTimeout));
        guest.Kill(15);
        guest.Kill(9);
        guest.Kill(15);
        Assert.Equal(143, run.Join().Status);
    }

    [Fact]
    public void Kill_after_a_real_exit_must_keep_the_exit_code()
    {
        var guest = _fx.Guest("exit", GuestWat.Exit, EngineFixture.Config(_fx.NewRootfs(), "7"));
        var exit = GuestRunner.RunToEnd(guest);
        guest.Kill(9);
        Assert.Equal(new GuestExit(7, null, false), exit);
    }

    [Fact]
    public void Dispose_while_running_must_end_the_guest()
    {
        var stdout = new CapturedOutput();
        var guest = _fx.Guest("spin", GuestWat.Spin, EngineFixture.Config(_fx.NewRootfs()), stdout);
        var run = GuestRunner.Start(guest);
        Assert.True(stdout.WaitFor("spinning", MarkerTimeout));
        guest.Dispose();
        Assert.Equal(137, run.Join(TimeSpan.FromSeconds(5)).Status);
        Assert.Throws<ObjectDisposedException>(() => guest.Run());
    }

    [Fact]
    public async Task Sixty_four_MiB_must_arrive_intact_through_an_output_buffer_read_concurrently()
    {
        const int blocks = 16384;
        var stdout = new OutputBuffer();
        var guest = _fx.Guest("flood", GuestWat.Flood, EngineFixture.Config(_fx.NewRootfs(), blocks.ToString(System.Globalization.CultureInfo.InvariantCulture)), stdout);
        var reader = Task.Run(async () =>
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            long total = 0;
            while (await stdout.ReadAsync() is { } chunk)
            {
                hash.AppendData(chunk.Span);
                total += chunk.Length;
            }
            return (total, Convert.ToHexString(hash.GetHashAndReset()));
        });

        var clock = Stopwatch.StartNew();
        var exit = GuestRunner.Start(guest).Join();
        stdout.Complete();
        var (total, digest) = await reader;
        clock.Stop();

        Assert.Equal(0, exit.Status);
        Assert.Equal(blocks * 4096L, total);
        Assert.Equal(ExpectedFloodDigest(blocks), digest);
        Assert.InRange(clock.ElapsedMilliseconds, 0, 5000);
    }

    private static (GuestExit Exit, long Ms) KillAndJoin(Guest guest, GuestRunner run, int signal)
    {
        var clock = Stopwatch.StartNew();
        guest.Kill(signal);
        var exit = run.Join();
        return (exit, clock.ElapsedMilliseconds);
    }

    private static async Task<byte[]> Drain(OutputBuffer buffer)
    {
        var all = new MemoryStream();
        while (await buffer.ReadAsync() is { } chunk)
            all.Write(chunk.Span);
        return all.ToArray();
    }

    private static string ExpectedFloodDigest(int blocks)
    {
        var block = new byte[4096];
        for (var j = 0; j < block.Length; j++)
            block[j] = (byte)j;
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        for (var i = 0; i < blocks; i++)
        {
            BinaryPrimitives.WriteInt32LittleEndian(block, i);
            hash.AppendData(block);
        }
        return Convert.ToHexString(hash.GetHashAndReset());
    }
}
