using WasmKata.Actors.Sandbox;
using WasmKata.Core;
using Xunit;

namespace WasmKata.Specs.Actors;

/// <summary>The sandbox API's lifecycle rules, as a pure value.</summary>
public sealed class PodSandboxSpec
{
    private static readonly DateTimeOffset Created = new(2026, 12, 7, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void A_created_sandbox_must_be_not_ready_until_started_then_ready()
    {
        var pod = PodSandbox.Create("pod1", "/b", Created);
        Assert.Equal(PodSandbox.NotReadyState, pod.State);

        var (started, failure) = pod.Start();

        Assert.Null(failure);
        Assert.Equal(PodSandbox.ReadyState, started.State);
        Assert.False(started.HasExited);
        Assert.True(started.HoldsShim);
    }

    [Fact]
    public void Stop_must_record_the_exit_once_and_a_stopped_sandbox_must_not_start_again()
    {
        var (ready, _) = PodSandbox.Create("pod1", "/b", Created).Start();

        var stopped = ready.Stop(Created.AddSeconds(5)).Stop(Created.AddSeconds(9));
        var (again, failure) = stopped.Start();

        Assert.Equal(Created.AddSeconds(5), stopped.ExitedAt);
        Assert.Equal(PodSandbox.NotReadyState, stopped.State);
        Assert.Equal(FailureCode.FailedPrecondition, failure?.Code);
        Assert.Contains("cannot start again", failure!.Message);
        Assert.Same(stopped, again);
    }

    [Fact]
    public void Only_shutdown_must_let_the_shim_go_and_it_keeps_the_first_exit_time()
    {
        var stopped = PodSandbox.Create("pod1", "/b", Created).Stop(Created.AddSeconds(1));
        Assert.True(stopped.HoldsShim);

        var shut = stopped.Shutdown(Created.AddSeconds(2));

        Assert.False(shut.HoldsShim);
        Assert.Equal(Created.AddSeconds(1), shut.ExitedAt);
        Assert.Equal(Created.AddSeconds(3), PodSandbox.Create("p", "/b", Created).Shutdown(Created.AddSeconds(3)).ExitedAt);
    }

    [Fact]
    public void Containers_must_be_refused_once_the_sandbox_stopped()
    {
        var (ready, _) = PodSandbox.Create("pod1", "/b", Created).Start();

        Assert.Null(ready.CanAddContainer("c1"));
        var refused = ready.Stop(Created).CanAddContainer("c1");

        Assert.Equal(FailureCode.FailedPrecondition, refused?.Code);
        Assert.Contains("sandbox pod1 is stopped", refused!.Message);
    }
}
