using Akka.Event;
using WasmKata.Core.Hooks;
using WasmKata.Core.Oci;

namespace WasmKata.Actors.Container;

// The OCI hooks: they run off the actor, and their outcome comes back as a message or only reaches the log.
internal sealed partial class ContainerActor
{
    private async Task RunCreateHooks(uint pid)
    {
        foreach (var kind in new[] { HookKind.Prestart, HookKind.CreateRuntime, HookKind.CreateContainer })
            await RunHooks(kind, OciStatus.Creating, pid);
    }

    private Task<IReadOnlyList<HookFailedException>> RunHooks(HookKind kind, OciStatus status, uint pid) =>
        HookRunner.RunAsync(kind, Plan.Hooks.For(kind),
            new OciState { Id = Id, Status = status, Pid = (int)pid, Bundle = _create.Bundle, Annotations = Spec.Annotations },
            _stop.Token);

    /// <summary>poststop runs after the container is gone; its failures are only logged.</summary>
    private void RunPoststop()
    {
        if (Plan.Hooks.For(HookKind.Poststop).Count == 0)
            return;
        // Not tied to this actor's life: the container stops right after, and poststop must still run to its end.
        LogFailures(HookRunner.RunAsync(HookKind.Poststop, Plan.Hooks.For(HookKind.Poststop),
            new OciState { Id = Id, Status = OciStatus.Stopped, Bundle = _create.Bundle, Annotations = Spec.Annotations }));
    }

    private void LogFailures(Task<IReadOnlyList<HookFailedException>> hooks)
    {
        var log = _log;
        var id = Id;
        hooks.ContinueWith(t =>
        {
            var failures = t.IsFaulted ? [t.Exception!.GetBaseException()] : t.IsCanceled ? [] : t.Result.Cast<Exception>().ToList();
            foreach (var failure in failures)
                log.Warning("{Container}: {Hook}", id, failure.Message);
        }, TaskScheduler.Default);
    }
}
