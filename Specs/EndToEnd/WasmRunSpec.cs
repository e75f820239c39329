using System.Security.Cryptography;
using Xunit;

namespace WasmKata.Specs.EndToEnd;

/// <summary>`ctr run --rm` of wasm guests through the shim: output, exit status, arguments, environment, stdin.</summary>
[Collection(EndToEndCollection.Name)]
[Trait("Category", "EndToEnd")]
[Trait("Requires", "root")]
[Trait("Runtime", "wasmkata")]
public class WasmRunSpec(ContainerdFixture fixture)
{
    private Ctr Ctr => fixture.Ctr;

    [Fact]
    public async Task Hello_must_print_its_greeting_and_exit_0()
    {
        var run = await fixture.RunWasmAsync(new WasmImage("hello"), "hello");

        Assert.True(run.ExitCode == 0, Ctr.Explain(run));
        Assert.True(run.StdoutText == "hello from wasm\n", Ctr.Explain(run));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(125)]
    [InlineData(126)]
    [InlineData(127)]
    [InlineData(255)]
    public async Task Guest_exit_code_must_become_ctr_exit_status(int code)
    {
        var run = await fixture.RunWasmAsync(new WasmImage("exitcode"), "exit", command: ["/app.wasm", $"{code}"]);

        // The line proves the guest ran: ctr's own failures exit 1 too.
        Assert.True(run.StdoutText == $"exiting with {code}\n", Ctr.Explain(run));
        Assert.True(run.ExitCode == code, $"expected exit {code}\n{Ctr.Explain(run)}");
    }

    [Fact]
    public async Task Args_and_env_must_reach_the_guest_exactly()
    {
        var image = new WasmImage("args") { Env = ["FROM_IMAGE=image value"] };

        var run = await fixture.RunWasmAsync(image, "args",
            options: ["--rm", "--env", "K=V", "--env", "EQUALS=a=b", "--env", "EMPTY="],
            command: ["/app.wasm", "a", "b c", "--flag=x"]);

        // containerd puts the image's Env first, then the --env values, in order.
        string[] expected = ["/app.wasm", "a", "b c", "--flag=x", "FROM_IMAGE=image value", "K=V", "EQUALS=a=b", "EMPTY="];
        Assert.True(run.ExitCode == 0, Ctr.Explain(run));
        Assert.True(run.StdoutText == string.Join('\n', expected) + "\n",
            $"expected lines:\n{string.Join('\n', expected)}\n{Ctr.Explain(run)}");
    }

    [Fact]
    public async Task Stdin_must_reach_the_cat_guest_intact()
    {
        // Far larger than the pipe and FIFO buffers: ctr 1.6 loses the stdin EOF (no CloseIO) when its input
        // ends before the task is created, so the input must still be flowing when the guest starts.
        var input = new byte[1024 * 1024];
        new Random(42).NextBytes(input);

        var run = await fixture.RunWasmAsync(new WasmImage("cat"), "cat", stdin: input);

        Assert.True(run.ExitCode == 0, Ctr.Explain(run));
        Assert.True(run.Stdout.AsSpan().SequenceEqual(input),
            $"stdout differs from the {input.Length} bytes fed in\n{Ctr.Explain(run)}");
    }

    [Fact]
    public async Task Trap_must_end_the_task_with_a_non_zero_exit()
    {
        var run = await fixture.RunWasmAsync(new WasmImage("trap"), "trap");

        Assert.True(run.StdoutText == "trapping\n", Ctr.Explain(run));
        Assert.True(run.ExitCode != 0, Ctr.Explain(run));
    }

    [Fact]
    public async Task Bigout_must_deliver_64_MiB_byte_exact()
    {
        const int mebibytes = 64;

        var run = await fixture.RunWasmAsync(new WasmImage("bigout"), "bigout", command: ["/app.wasm", $"{mebibytes}"],
            timeout: TimeSpan.FromMinutes(2));

        AssertBigout(run, mebibytes);
    }

    [Fact]
    public async Task Bigout_must_arrive_whole_through_a_reader_slower_than_the_guest()
    {
        // When the guest ends, its output buffer and the FIFO (1 MiB each) are still full. ctr 1.6 closes its FIFO as
        // soon as it has the exit and drops what the pipe holds: the shim must hold the exit until ctr has read it all.
        const int mebibytes = 8;
        var name = await fixture.Images.WasmAsync(new WasmImage("bigout"));
        using var ctr = Ctr.Start(
            Ctr.RunArgs(Ctr.WasmRuntime, name, ContainerdFixture.NewId("slowout"), null, "/app.wasm", $"{mebibytes}"),
            stdoutPause: TimeSpan.FromMilliseconds(5));

        var run = await ctr.WaitAsync(TimeSpan.FromMinutes(2), () => fixture.LogTail());

        AssertBigout(run, mebibytes);
    }

    private void AssertBigout(ProcessResult run, int mebibytes)
    {
        var summary = $"exit {run.ExitCode}, {run.Stdout.Length} bytes on stdout, stderr: {run.Stderr}\n" +
                      fixture.LogTail();
        Assert.True(run.ExitCode == 0, summary);
        Assert.True(run.Stdout.Length == mebibytes << 20, summary);
        Assert.True(SHA256.HashData(run.Stdout).AsSpan().SequenceEqual(Bigout.Sha256(mebibytes)),
            "stdout has the right length but not the right bytes\n" + summary);
    }
}
