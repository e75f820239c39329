using System.Diagnostics;
using WasmKata.Actors.Hooks;
using WasmKata.Specs.Linux;
using Xunit;
using static WasmKata.Specs.Hooks.HookBench;

namespace WasmKata.Specs.Hooks;

public sealed class HookRunnerSpec : IDisposable
{
    private readonly HookBench _bench = new();

    public void Dispose() => _bench.Dispose();

    [Fact]
    public async Task Hook_must_receive_the_state_json_on_stdin()
    {
        var hook = _bench.Script("stdin.sh", "cat > $DIR/state.json");
        var state = _bench.State(OciStatus.Running, pid: 31337);

        await HookRunner.RunAsync(HookKind.Poststart, [Hook(hook)], state).Within();

        var received = OciState.Parse(_bench.Read("state.json"));
        Assert.Equal(state.Id, received.Id);
        Assert.Equal(OciStatus.Running, received.Status);
        Assert.Equal(31337, received.Pid);
        Assert.Equal(_bench.Bundle, received.Bundle);
        Assert.Equal(OciState.SpecVersion, received.OciVersion);
        Assert.Equal(state.Annotations, received.Annotations);
        Assert.Equal(state.ToJson(), _bench.Read("state.json"));
    }

    [Fact]
    public async Task Hook_must_get_its_argv_including_argv0_exactly()
    {
        const string marker = "argv-marker-7f3a";
        var run = HookRunner.RunAsync(HookKind.CreateRuntime,
            [Hook("/bin/sleep", timeout: null, "not-sleep", "30", marker + "=ignored" is var _ ? "30" : "")], _bench.State());
        _ = run;

        // The marker must sit in the command line to find the process, so give sleep a second numeric argument.
        using var cancel = new CancellationTokenSource();
        var run2 = HookRunner.RunAsync(HookKind.CreateRuntime,
            [new OciHook { Path = "/bin/sleep", Args = ["argv zero with spaces", "30", "0" + marker.Length], Env = [] }],
            _bench.State(), cancel.Token);
        await Task.CompletedTask;
        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run2).ConfigureAwait(false);
    }
}
