using WasmKata.Shim.Actions;
using Xunit;

namespace WasmKata.Specs.Shim;

/// <summary>The daemon's states (Serving, Draining, Exiting) and the rule that moves it out of Serving.</summary>
public sealed class DaemonLifecycleSpec
{
    private DateTime _now = new(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);

    private DaemonLifecycle NewLifecycle(string? leasedFor = null) => new(leasedFor, () => _now);

    [Fact]
    public void An_empty_sandbox_with_no_lease_must_move_the_daemon_to_draining()
    {
        var life = NewLifecycle();
        Assert.True(life.TryBeginCheck());
        Assert.True(life.EndCheck(sandboxEmpty: true, "Shutdown"));
        Assert.Equal(DaemonState.Draining, life.State);
        Assert.Equal("Shutdown", life.ExitReason);
    }

    [Fact]
    public void A_sandbox_that_still_holds_a_container_must_keep_the_daemon_serving()
    {
        var life = NewLifecycle();
        Assert.True(life.TryBeginCheck());
        Assert.False(life.EndCheck(sandboxEmpty: false, "Shutdown"));
        Assert.Equal(DaemonState.Serving, life.State);
        Assert.True(life.TryBeginCheck()); // and it may be asked again
    }

    [Fact]
    public void A_claim_must_hold_the_daemon_until_its_create_arrives()
    {
        var life = NewLifecycle();
        Assert.Equal(ClaimOutcome.Granted, life.Claim("c2"));
        Assert.False(life.TryBeginCheck());
        Assert.Equal(ClaimOutcome.Granted, life.BeginCreate("c2"));
        Assert.False(life.TryBeginCheck()); // the Create is still on its way to the sandbox
        life.EndCreate();
        Assert.True(life.TryBeginCheck());
    }

    [Fact]
    public void A_claim_whose_create_never_comes_must_expire()
    {
        var life = NewLifecycle();
        life.Claim("c2");
        _now += DaemonLifecycle.LeaseTime + TimeSpan.FromSeconds(1);
        Assert.True(life.TryBeginCheck());
    }

    [Fact]
    public void The_first_containers_lease_must_end_with_its_shutdown()
    {
        var life = NewLifecycle(leasedFor: "c1");
        Assert.False(life.TryBeginCheck());
        life.Release("c1");
        Assert.True(life.TryBeginCheck());
    }

    [Fact]
    public void Claims_and_creates_during_a_check_must_wait_for_its_decision_then_be_refused_when_draining()
    {
        var life = NewLifecycle();
        Assert.True(life.TryBeginCheck());
        Assert.Equal(ClaimOutcome.Wait, life.Claim("c2"));
        Assert.Equal(ClaimOutcome.Wait, life.BeginCreate("c2"));
        var decided = life.Decided;
        Assert.False(decided.IsCompleted);
        life.EndCheck(sandboxEmpty: true, "Shutdown");
        Assert.True(decided.IsCompleted);
        Assert.Equal(ClaimOutcome.Refused, life.Claim("c2"));
        Assert.Equal(ClaimOutcome.Refused, life.BeginCreate("c2"));
    }

    [Fact]
    public void A_claim_after_a_not_yet_must_be_granted()
    {
        var life = NewLifecycle();
        Assert.True(life.TryBeginCheck());
        life.EndCheck(sandboxEmpty: false, "Shutdown");
        Assert.Equal(ClaimOutcome.Granted, life.Claim("c2"));
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public void Terminate_must_end_the_daemon_from_any_state(bool draining, bool checking)
    {
        var life = NewLifecycle(leasedFor: "c1");
        if (draining)
        {
            life.Release("c1");
            Assert.True(life.TryBeginCheck());
            if (!checking)
                life.EndCheck(sandboxEmpty: true, "Shutdown");
        }

        var decided = life.Decided;
        Assert.True(life.Terminate("SIGTERM"));
        Assert.Equal(DaemonState.Exiting, life.State);
        Assert.True(decided.IsCompleted);
        Assert.False(life.Terminate("SIGTERM")); // once
        Assert.Equal(ClaimOutcome.Refused, life.Claim("c2"));
        Assert.False(life.TryBeginCheck());
    }

    [Fact]
    public void The_state_must_only_move_forward()
    {
        var life = NewLifecycle();
        life.Terminate("SIGTERM");
        life.Drained();
        Assert.Equal(DaemonState.Exiting, life.State);
        Assert.Equal("SIGTERM", life.ExitReason);
    }

    [Fact]
    public void Connections_must_be_counted_down_to_none()
    {
        var life = NewLifecycle();
        life.ConnectionOpened();
        life.ConnectionOpened();
        Assert.False(life.ConnectionClosed());
        Assert.True(life.ConnectionClosed());
        Assert.Equal(0, life.Connections);
    }
}
