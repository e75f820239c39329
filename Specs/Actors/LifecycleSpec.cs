using WasmKata.Actors;
using WasmKata.Actors.Container;
using WasmKata.Core;
using Xunit;

namespace WasmKata.Specs.Actors;

public class LifecycleSpec
{
    private static ProcessRecord Process(Phase phase, string execId = "") => new(execId, 42, phase, TaskProtocol.Stdio.None);

    [Fact]
    public void Init_may_start_only_when_created()
    {
        Assert.Null(Lifecycle.CheckStart(Process(Phase.Created), isInit: true, Phase.Created));
        Assert.Equal("process already started", Lifecycle.CheckStart(Process(Phase.Running), true, Phase.Running)!.Message);
        Assert.Equal(FailureCode.FailedPrecondition, Lifecycle.CheckStart(Process(Phase.Stopped), true, Phase.Stopped)!.Code);
    }

    [Fact]
    public void Exec_must_not_start_unless_init_runs()
    {
        Assert.Null(Lifecycle.CheckStart(Process(Phase.Created, "e1"), isInit: false, Phase.Running));
        var failure = Lifecycle.CheckStart(Process(Phase.Created, "e1"), isInit: false, Phase.Stopped);
        Assert.Equal(FailureCode.FailedPrecondition, failure!.Code);
    }

    [Fact]
    public void Kill_of_a_finished_process_must_be_not_found()
    {
        Assert.Equal(FailureCode.NotFound, Lifecycle.CheckKill(Process(Phase.Stopped))!.Code);
        Assert.Null(Lifecycle.CheckKill(Process(Phase.Running)));
        Assert.Null(Lifecycle.CheckKill(Process(Phase.Created)));
    }

    [Fact]
    public void Delete_must_refuse_a_running_process()
    {
        Assert.Equal("cannot delete a running process", Lifecycle.CheckDelete(Process(Phase.Running))!.Message);
        Assert.Null(Lifecycle.CheckDelete(Process(Phase.Stopped)));
        Assert.Null(Lifecycle.CheckDelete(Process(Phase.Created)));
    }

    [Fact]
    public void Exec_ids_must_be_unique_and_the_container_alive()
    {
        var processes = new Dictionary<string, ProcessRecord> { [""] = Process(Phase.Running), ["e1"] = Process(Phase.Running, "e1") };
        Assert.Equal(FailureCode.AlreadyExists, Lifecycle.CheckAddExec(processes, "e1", Phase.Running)!.Code);
        Assert.Equal(FailureCode.InvalidArgument, Lifecycle.CheckAddExec(processes, "", Phase.Running)!.Code);
        Assert.Equal(FailureCode.FailedPrecondition, Lifecycle.CheckAddExec(processes, "e2", Phase.Stopped)!.Code);
        Assert.Null(Lifecycle.CheckAddExec(processes, "e2", Phase.Running));
    }

    [Theory]
    [InlineData(9, true)]
    [InlineData(15, true)]
    [InlineData(2, true)]
    [InlineData(0, false)]
    [InlineData(17, false)]
    [InlineData(28, false)]
    [InlineData(19, false)]
    public void Signals_with_a_default_action_of_ignore_must_not_end_a_guest(int signal, bool terminates) =>
        Assert.Equal(terminates, Lifecycle.Terminates(signal));

    [Fact]
    public void Status_must_follow_the_phase()
    {
        Assert.Equal(ProcessStatus.Created, Process(Phase.Preparing).Status);
        Assert.Equal(ProcessStatus.Created, Process(Phase.Created).Status);
        Assert.Equal(ProcessStatus.Running, Process(Phase.Running).Status);
        Assert.Equal(ProcessStatus.Stopped, Process(Phase.Stopped).Status);
    }
}
