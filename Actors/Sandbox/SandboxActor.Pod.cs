using Akka.Actor;
using Akka.Event;
using WasmKata.Core;
using WasmKata.Linux.Namespaces;
using static WasmKata.Actors.Sandbox.PodSandboxProtocol;
using static WasmKata.Actors.TaskProtocol;

namespace WasmKata.Actors.Sandbox;

// The sandbox API: containerd 2.x creates the sandbox itself (no pause container), then CRI's containers join it. The
// lifecycle rules are PodSandbox's; this file does the effects: namespaces, killing guests, answering waiters.
internal sealed partial class SandboxActor
{
    private PodSandbox? _pod;
    private readonly List<IActorRef> _podWaiters = [];

    private void OnCreatePod(CreatePodSandbox create)
    {
        if (_pod is not null)
        {
            Sender.Tell(_pod.Id == create.SandboxId
                ? new CommandFailed(FailureCode.AlreadyExists, $"sandbox {create.SandboxId}: already exists")
                : new CommandFailed(FailureCode.FailedPrecondition, $"sandbox {create.SandboxId}: this shim serves sandbox {_pod.Id}"));
            return;
        }
        if (ValidateId(create.SandboxId) is { } invalid)
        {
            Sender.Tell(invalid with { Message = invalid.Message.Replace("container id", "sandbox id", StringComparison.Ordinal) });
            return;
        }
        if (ValidateBundle(create.Bundle) is { } badBundle)
        {
            Sender.Tell(badBundle);
            return;
        }
        // The first container would otherwise have decided the namespaces: a sandbox comes first or not at all.
        if (_containers.Count > 0 || _namespaces is not null)
        {
            Sender.Tell(new CommandFailed(FailureCode.FailedPrecondition, $"sandbox {create.SandboxId}: this shim already runs containers outside a sandbox"));
            return;
        }
        try
        {
            _namespaces = SandboxNamespaces.Create(create.Namespaces, create.Hostname);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Sender.Tell(new CommandFailed(FailureCode.InvalidArgument, $"sandbox {create.SandboxId}: cannot set up its namespaces: {e.Message}"));
            return;
        }
        _pod = PodSandbox.Create(create.SandboxId, create.Bundle, DateTimeOffset.UtcNow);
        _log.Info("sandbox {SandboxId} created with namespaces {Namespaces}", create.SandboxId,
            string.Join(",", create.Namespaces.Select(n => n.Path.Length > 0 ? $"{n.Type}={n.Path}" : n.Type)));
        Sender.Tell(Done.Instance);
    }

    private void OnPodCommand(IPodSandboxCommand command)
    {
        // containerd shuts a sandbox down after a failed CreateSandbox too: with none made there is nothing to stop,
        // and the shim's lifecycle lets it exit.
        if (_pod is null && command is ShutdownPodSandbox)
        {
            Sender.Tell(Done.Instance);
            return;
        }
        if (_pod is null || _pod.Id != command.SandboxId)
        {
            Sender.Tell(PodSandbox.NotFound(command.SandboxId));
            return;
        }
        switch (command)
        {
            case CreatePodSandbox:
                Sender.Tell(new CommandFailed(FailureCode.AlreadyExists, $"sandbox {command.SandboxId}: already exists"));
                break;
            case StartPodSandbox:
                var (started, failure) = _pod.Start();
                _pod = started;
                Sender.Tell(failure ?? (object)new PodSandboxStarted((uint)Environment.ProcessId, started.CreatedAt));
                break;
            case QueryPodSandbox:
                Sender.Tell(new PodSandboxView(_pod.Id, (uint)Environment.ProcessId, _pod.State, _pod.CreatedAt, _pod.ExitedAt, _containers.Count));
                break;
            case WaitPodSandbox:
                if (_pod.ExitedAt is { } exitedAt)
                    Sender.Tell(new PodSandboxExited(PodSandbox.StoppedExitStatus, exitedAt));
                else
                    _podWaiters.Add(Sender);
                break;
            case StopPodSandbox:
                StopPod(_pod.Stop(DateTimeOffset.UtcNow), "stopped");
                Sender.Tell(Done.Instance);
                break;
            case ShutdownPodSandbox:
                StopPod(_pod.Shutdown(DateTimeOffset.UtcNow), "shut down");
                Sender.Tell(Done.Instance);
                break;
        }
    }

    // CRI stops each container before the sandbox; what is still running now is killed, its exit published as usual.
    private void StopPod(PodSandbox next, string what)
    {
        _pod = next;
        foreach (var (id, container) in _containers)
            container.Tell(new KillTask(id, "", SignalNumber.Kill, All: true), ActorRefs.Nobody);
        _log.Info("sandbox {SandboxId} {What}, {Count} containers left", next.Id, what, _containers.Count);
        foreach (var waiter in _podWaiters)
            waiter.Tell(new PodSandboxExited(PodSandbox.StoppedExitStatus, next.ExitedAt!.Value));
        _podWaiters.Clear();
    }
}
