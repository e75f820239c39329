using Akka.Actor;
using WasmKata.Actors;
using WasmKata.Actors.Container;
using Xunit;

namespace WasmKata.Specs.Actors;

public class ExecTableSpec
{
    private static ExecEntry Entry(string execId, Phase phase, IActorRef? actor = null) =>
        new(new ProcessRecord(execId, 42, phase, TaskProtocol.Stdio.None), actor, []);

    [Fact]
    public void Init_is_listed_first_whatever_the_order_of_adding()
    {
        var table = ExecTable.Empty.With(Entry("b", Phase.Running)).With(Entry("", Phase.Running)).With(Entry("a", Phase.Created));
        Assert.Equal(["", "a", "b"], table.All.Select(e => e.ExecId));
    }

    [Fact]
    public void Only_live_execs_hold_back_inits_exit()
    {
        var table = ExecTable.Empty.With(Entry("", Phase.Running)).With(Entry("e1", Phase.Stopped));
        Assert.False(table.HasLiveExecs);
        Assert.True(table.With(Entry("e2", Phase.Created)).HasLiveExecs);
    }

    [Fact]
    public void Owed_names_every_pending_reply_delete_and_waiter_until_settled()
    {
        var replyTo = new RefStub("reply");
        var deleter = new RefStub("delete");
        var waiter = new RefStub("wait");
        var table = ExecTable.Empty
            .With(Entry("", Phase.Running) with { Waiters = [waiter] })
            .With(Entry("e1", Phase.Created) with { PendingReply = replyTo, PendingDelete = deleter });
        Assert.Equal(3, table.Owed.Count());
        Assert.Empty(table.Settled().Owed);
    }

    [Fact]
    public void Updating_or_removing_an_unknown_exec_changes_nothing_and_actors_find_their_exec()
    {
        var actor = new RefStub("init");
        var table = ExecTable.Empty.With(Entry("", Phase.Running, actor));
        Assert.Equal(table.Entries, table.UpdateProcess("nope", p => p with { Pid = 7 }).Entries);
        Assert.Equal("", table.ExecOf(actor));
        Assert.Null(table.ExecOf(new RefStub("other")));
        Assert.Null(table.Update("", e => e with { Actor = null }).ExecOf(actor));
        Assert.False(table.Without("").TryGet("", out _));
    }

    private sealed class RefStub(string name) : MinimalActorRef
    {
        public override ActorPath Path { get; } = new RootActorPath(new Address("akka", "spec")) / name;

        public override IActorRefProvider Provider => throw new NotSupportedException();
    }
}
