using System.Diagnostics;
using WasmKata.Core.Hooks;
using WasmKata.Core.Oci;
using WasmKata.Specs.Linux;
using Xunit;
using static WasmKata.Specs.Core.Hooks.HookBench;

namespace WasmKata.Specs.Core.Hooks;

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

        var text = _bench.Read("state.json");
        var received = OciState.Parse(text);
        Assert.Equal(state.Id, received.Id);
        Assert.Equal(OciStatus.Running, received.Status);
        Assert.Equal(31337, received.Pid);
        Assert.Equal(_bench.Bundle, received.Bundle);
        Assert.Equal(OciState.SpecVersion, received.OciVersion);
        Assert.Equal(state.Annotations, received.Annotations);
        Assert.Equal(state.ToJson(), text);
    }

    [Fact]
    public async Task Hook_must_run_with_exactly_its_argv_and_env_and_nothing_inherited()
    {
        var argv0 = "not sleep " + Guid.NewGuid().ToString("N");
        string[] env = ["A=1", "WITH_SPACE=x y", "EMPTY=", "DUP=first", "DUP=second"];
        using var cancel = new CancellationTokenSource();
        var run = HookRunner.RunAsync(HookKind.CreateRuntime,
            [new OciHook { Path = "/bin/sleep", Args = [argv0, "30"], Env = env }], _bench.State(), cancel.Token);

        var pid = await LiveHookAsync(argv0);
        Assert.Equal(argv0 + "\0" + "30\0", ReadProc(pid, "cmdline"));
        Assert.Equal(string.Concat(env.Select(e => e + "\0")), ReadProc(pid, "environ"));
        Assert.NotNull(Environment.GetEnvironmentVariable("PATH"));

        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run.Within());
        Assert.Null(StateOf(pid));
        Assert.DoesNotContain(pid, HookRunner.LiveChildren);
    }

    [Fact]
    public async Task A_shell_hook_must_see_argv0_as_dollar_zero_and_only_its_env_plus_what_sh_adds()
    {
        // With no operands after the command string, sh -c sets $0 from argv[0]. dash exports PWD (the working
        // directory, which is the bundle) and adds nothing else.
        var hook = new OciHook
        {
            Path = "/bin/sh",
            Args = ["custom argv0", "-c", "echo \"$0\" > \"$OUT/args\"; /usr/bin/env > \"$OUT/env\""],
            Env = ["OUT=" + _bench.Dir, "HOOK_VAR=hook value"],
        };

        await HookRunner.RunAsync(HookKind.CreateContainer, [hook], _bench.State()).Within();

        Assert.Equal("custom argv0\n", _bench.Read("args"));
        var seen = _bench.Read("env").Split('\n', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal);
        Assert.Equal(new[] { "HOOK_VAR=hook value", "OUT=" + _bench.Dir, "PWD=" + _bench.Bundle }.Order(StringComparer.Ordinal), seen);
    }

    [Fact]
    public async Task Hooks_must_run_one_after_another_in_the_given_order()
    {
        var hook = _bench.Script("order.sh", "echo \"start $1\" >> $DIR/order; sleep 0.05; echo \"end $1\" >> $DIR/order");
        OciHook[] hooks = [.. new[] { "a", "b", "c" }.Select(name => Hook(hook, null, hook, name))];

        await HookRunner.RunAsync(HookKind.CreateRuntime, hooks, _bench.State()).Within();

        Assert.Equal("start a\nend a\nstart b\nend b\nstart c\nend c\n", _bench.Read("order"));
    }

    [Fact]
    public async Task A_non_zero_exit_must_fail_with_kind_index_path_status_and_stderr_tail()
    {
        var ok = _bench.Script("ok.sh", "exit 0");
        var bad = _bench.Script("bad.sh", "echo 'some stdout'; i=0; while [ $i -lt 2000 ]; do echo \"noise $i\" >&2; i=$((i+1)); done; echo 'the real reason' >&2; exit 3");

        var e = await Assert.ThrowsAsync<HookFailedException>(() => HookRunner.RunAsync(HookKind.CreateRuntime, [Hook(ok), Hook(bad)], _bench.State()).Within());

        Assert.StartsWith($"hook createRuntime[1] {bad} failed with exit status 3; stderr: …", e.Message, StringComparison.Ordinal);
        Assert.EndsWith("noise 1999\nthe real reason", e.Message, StringComparison.Ordinal);
        Assert.Equal((HookKind.CreateRuntime, 1, bad, 3, false), (e.Kind, e.Index, e.HookPath, e.Exit?.ExitCode, e.TimedOut));
        Assert.InRange(e.StderrTail.Length, HookRunner.TailBytes - 20, HookRunner.TailBytes + 1);
        Assert.Equal("some stdout", e.StdoutTail);
    }

    [Fact]
    public async Task A_hook_killed_by_a_signal_must_fail_naming_the_signal()
    {
        var hook = _bench.Script("killed.sh", "kill -TERM $$");

        var e = await Assert.ThrowsAsync<HookFailedException>(() => HookRunner.RunAsync(HookKind.StartContainer, [Hook(hook)], _bench.State(OciStatus.Created)).Within());

        Assert.Equal($"hook startContainer[0] {hook} failed: killed by signal 15", e.Message);
        Assert.Equal(15, e.Exit?.Signal);
    }

    [Fact]
    public async Task A_hook_past_its_timeout_must_be_killed_with_its_group_within_half_a_second()
    {
        var hook = _bench.Script("slow.sh", "echo $$ > $DIR/pid; sleep 30 & echo $! > $DIR/child; echo 'waiting' >&2; wait");
        var clock = Stopwatch.StartNew();

        var e = await Assert.ThrowsAsync<HookFailedException>(() => HookRunner.RunAsync(HookKind.CreateRuntime, [Hook(hook, timeout: 1)], _bench.State()).Within());

        Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(0.95), TimeSpan.FromSeconds(1.5)); // timers may fire a hair early
        Assert.Equal($"hook createRuntime[0] {hook} timed out after 1s; stderr: waiting", e.Message);
        Assert.True(e.TimedOut);
        Assert.Equal(9, e.Exit?.Signal);
        Assert.Null(StateOf(int.Parse(_bench.Read("pid"))));

        // The sleep was in the hook's process group, so it died too (a zombie until somebody reaps the orphan).
        var child = int.Parse(_bench.Read("child"));
        await AwaitGoneOrZombie(child);
    }

    [Fact]
    public async Task A_hook_whose_program_does_not_exist_must_fail_clearly()
    {
        var missing = _bench.File("no-such-hook");

        var e = await Assert.ThrowsAsync<HookFailedException>(() => HookRunner.RunAsync(HookKind.Prestart, [Hook(missing)], _bench.State()).Within());

        Assert.StartsWith($"hook prestart[0] {missing} could not be started: ", e.Message, StringComparison.Ordinal);
        Assert.Contains("ENOENT", e.Message, StringComparison.Ordinal);
        Assert.Null(e.Exit);
    }

    [Fact]
    public async Task A_fatal_kind_must_stop_at_the_first_failure()
    {
        var bad = _bench.Script("bad.sh", "exit 1");
        var marker = _bench.Script("marker.sh", "touch $DIR/ran");

        await Assert.ThrowsAsync<HookFailedException>(() => HookRunner.RunAsync(HookKind.CreateContainer, [Hook(bad), Hook(marker)], _bench.State()).Within());

        Assert.False(File.Exists(_bench.File("ran")));
    }

    [Fact]
    public async Task Poststop_must_run_every_hook_and_return_the_failures()
    {
        var bad = _bench.Script("bad.sh", "echo 'cleanup failed' >&2; exit 2");
        var marker = _bench.Script("marker.sh", "touch $DIR/ran");

        var failures = await HookRunner.RunAsync(HookKind.Poststop, [Hook(bad), Hook(marker), Hook(bad)], _bench.State(OciStatus.Stopped, pid: 0)).Within();

        Assert.True(File.Exists(_bench.File("ran")));
        Assert.Equal([0, 2], failures.Select(f => f.Index));
        Assert.Equal($"hook poststop[2] {bad} failed with exit status 2; stderr: cleanup failed", failures[1].Message);
    }

    [Fact]
    public async Task A_child_left_holding_the_output_pipes_must_not_delay_the_result()
    {
        var hook = _bench.Script("leaves-child.sh", "setsid sleep 5 & echo $! > $DIR/child; echo 'done' >&2; exit 4");
        var clock = Stopwatch.StartNew();

        var e = await Assert.ThrowsAsync<HookFailedException>(() => HookRunner.RunAsync(HookKind.CreateRuntime, [Hook(hook)], _bench.State()).Within());

        Assert.InRange(clock.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(2));
        Assert.Equal($"hook createRuntime[0] {hook} failed with exit status 4; stderr: done", e.Message);
        KillPid(int.Parse(_bench.Read("child")));
    }

    [Fact]
    public async Task A_hook_that_never_reads_a_large_state_must_still_finish()
    {
        var hook = _bench.Script("ignores-stdin.sh", "exit 0");
        var state = _bench.State() with
        {
            Annotations = Enumerable.Range(0, 4000).ToDictionary(i => $"key-{i}", i => new string('x', 64)),
        };

        var failures = await HookRunner.RunAsync(HookKind.Poststart, [Hook(hook)], state).Within();

        Assert.Empty(failures);
        Assert.True(state.ToJsonBytes().Length > 256 * 1024);
    }

    [Fact]
    public async Task No_hooks_must_start_nothing()
    {
        Assert.Empty(await HookRunner.RunAsync(HookKind.Poststop, [], _bench.State()).Within());
    }

    [Theory]
    [InlineData(HookKind.Prestart, true)]
    [InlineData(HookKind.CreateRuntime, true)]
    [InlineData(HookKind.CreateContainer, true)]
    [InlineData(HookKind.StartContainer, true)]
    [InlineData(HookKind.Poststart, false)]
    [InlineData(HookKind.Poststop, false)]
    public void IsFatal_must_follow_the_issue(HookKind kind, bool fatal) => Assert.Equal(fatal, HookRunner.IsFatal(kind));

    private static void KillPid(int pid) => WasmKata.Linux.Processes.Signals.TrySend(pid, 9);

    private static async Task AwaitGoneOrZombie(int pid)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(2);
        while (StateOf(pid) is { } state && state != 'Z')
        {
            Assert.True(DateTime.UtcNow < deadline, $"pid {pid} still alive in state {state}");
            await Task.Delay(10);
        }
    }
}
