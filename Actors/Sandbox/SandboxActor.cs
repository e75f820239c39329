using System.Text.RegularExpressions;
using Akka.Actor;
using Akka.Event;
using WasmKata.Actors.Container;
using WasmKata.Actors.Events;
using WasmKata.Actors.Signals;
using WasmKata.Core;
using WasmKata.Core.Oci;
using WasmKata.Core.Plan;
using WasmKata.Engine;
using WasmKata.Linux.Namespaces;
using WasmKata.Linux.Processes;
using static WasmKata.Actors.Sandbox.SandboxProtocol;
using static WasmKata.Actors.TaskProtocol;

namespace WasmKata.Actors.Sandbox;

/// <summary>
/// Routes task commands to container actors by id, creates and forgets containers, and decides when the shim may
/// exit: on Shutdown with no container left, or after an orderly stop on SIGTERM/SIGINT.
/// </summary>
internal sealed partial class SandboxActor : ReceiveActor, IWithTimers, IWithUnboundedStash
{
    private readonly WasmEngine _engine;
    private readonly RuntimeSettings _settings;
    private readonly IShimLifetime _lifetime;
    private readonly IEventSink _sink;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Dictionary<string, IActorRef> _containers = [];
    private IActorRef _events = ActorRefs.Nobody;
    private long _counter;
    private SandboxNamespaces? _namespaces;
    private SandboxCgroup? _cgroup;
    // What each container saves in its state so a crashed shim's delete removes the cgroup; kept once decided.
    private SandboxCgroupPlan? _cgroupPlan;
    private bool _cgroupDecided;

    public SandboxActor(WasmEngine engine, IEventSink sink, RuntimeSettings settings, IShimLifetime lifetime)
    {
        _engine = engine;
        _sink = sink;
        _settings = settings;
        _lifetime = lifetime;
        Serving();
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public IStash Stash { get; set; } = null!;

    protected override void PostStop() => _namespaces?.Dispose();

    protected override void PreStart()
    {
        Context.ActorOf(SignalWatcherProtocol.Props(), "signals");
        _events = Context.ActorOf(EventPublisherProtocol.Props(_sink), "events");
    }

    // The normal behaviour: creates containers, routes commands, and starts an orderly stop on SIGTERM/SIGINT.
    private void Serving()
    {
        Receive<CreateTask>(OnCreate);
        Receive<PodSandboxProtocol.CreatePodSandbox>(OnCreatePod);
        Receive<SignalWatcherProtocol.ShutdownSignalled>(OnShutdownSignal);
        // Only the stop's Waits answer the sandbox itself, and none is outstanding while serving: nothing to count.
        Receive<Exited>(_ => { });
        Receive<CommandFailed>(_ => { });
        ReceiveCommon();
    }

    // What the sandbox does alike while serving and while stopping.
    private void ReceiveCommon()
    {
        Receive<ConnectTask>(c =>
        {
            if (_containers.TryGetValue(c.ContainerId, out var container))
                container.Forward(c);
            else
                Sender.Tell(new Connected((uint)Environment.ProcessId, 0));
        });
        Receive<ITaskCommand>(Route);
        Receive<PodSandboxProtocol.IPodSandboxCommand>(OnPodCommand);
        Receive<RequestShutdown>(_ =>
        {
            // A sandbox made through the sandbox API holds the shim until ShutdownSandbox, containers or not.
            if (_containers.Count > 0 || _pod is { HoldsShim: true })
                Sender.Tell(new ShutdownAnswer(false));
            else
                RemoveCgroupAsync().PipeTo(Sender, success: () => new ShutdownAnswer(true));
        });
        Receive<QuerySandboxStats>(_ => OnQueryCgroupStats());
        Receive<ListContainers>(_ => Sender.Tell(new ContainerList(_containers.Keys.Order().ToList())));
        Receive<ContainerProtocol.ContainerDeleted>(d =>
        {
            // Only the actor that holds the id may take it out of the map.
            if (_containers.TryGetValue(d.ContainerId, out var container) && container.Equals(Sender))
                Forget(d.ContainerId);
            Sender.Tell(ContainerProtocol.Forgotten.Instance);
        });
        Receive<Terminated>(t =>
        {
            var id = _containers.FirstOrDefault(c => c.Value.Equals(t.ActorRef)).Key;
            if (id is not null)
                Forget(id);
        });
        // Hooks that double-fork leave orphans with us (the shim is a child subreaper): reap them.
        Receive<SignalWatcherProtocol.ChildSignalled>(_ =>
        {
            if (_settings.ReapOrphans)
                ChildReaper.ReapOrphans();
        });
    }

    private void OnCreate(CreateTask create)
    {
        if (ValidateId(create.ContainerId) is { } invalid)
        {
            Sender.Tell(invalid);
            return;
        }
        if (ValidateBundle(create.Bundle) is { } badBundle)
        {
            Sender.Tell(badBundle);
            return;
        }
        if (_containers.ContainsKey(create.ContainerId))
        {
            Sender.Tell(new CommandFailed(FailureCode.AlreadyExists, $"container {create.ContainerId}: already exists"));
            return;
        }
        if (_pod?.CanAddContainer(create.ContainerId) is { } stopped)
        {
            Sender.Tell(stopped);
            return;
        }
        // The Create's inputs are read once, here. The first container's plan decides the sandbox's namespaces and host
        // cgroup; a plan that cannot be read is the container's to report, with its own message.
        var read = ContainerPlan.TryRead(create.Bundle, create.ConfigPath);
        if ((_namespaces is null || !_cgroupDecided) && read.Plan is { } plan)
        {
            if (EnsureNamespaces(plan.Spec) is { } failed)
            {
                Sender.Tell(failed);
                return;
            }
            if (!_cgroupDecided && PlaceInCgroup(create, read, plan))
                return;
        }
        SpawnContainer(create, read, Sender);
    }

    private void SpawnContainer(CreateTask create, ContainerPlanRead read, IActorRef replyTo)
    {
        var name = $"{SafeName().Replace(create.ContainerId, "_")}-{++_counter}";
        var props = ContainerProtocol.Props(create, read, _cgroupPlan, replyTo, _events, _engine, _settings, _namespaces!);
        var container = Context.ActorOf(props, name);
        Context.Watch(container);
        _containers[create.ContainerId] = container;
    }

    /// <summary>The first container's spec decides the sandbox's namespaces; later containers share them.</summary>
    private CommandFailed? EnsureNamespaces(OciSpec spec)
    {
        if (_namespaces is not null)
            return null;
        var requests = (spec.Linux?.Namespaces ?? [])
            .Where(n => n.Type is not null)
            .Select(n => new NamespaceRequest(n.Type!, n.Path ?? ""));
        // CRI points app containers at /proc/<sandbox pid>/ns/..., and the sandbox "process" is this shim.
        var self = $"/proc/{Environment.ProcessId}/";
        try
        {
            _namespaces = SandboxNamespaces.Create(requests, spec.Hostname, path => path.StartsWith(self, StringComparison.Ordinal));
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return new CommandFailed(FailureCode.InvalidArgument, $"cannot set up the sandbox's namespaces: {e.Message}");
        }
    }

    private void Route(ITaskCommand command)
    {
        if (_containers.TryGetValue(command.ContainerId, out var container))
            container.Forward(command);
        else
            Sender.Tell(new CommandFailed(FailureCode.NotFound, $"container {command.ContainerId}: not found"));
    }

    private void Forget(string id)
    {
        if (_containers.Remove(id, out var container))
            Context.Unwatch(container);
    }

    /// <summary>Ids become actor names and paths on disk: refuse what could escape or confuse either.</summary>
    internal static CommandFailed? ValidateId(string id)
    {
        if (string.IsNullOrEmpty(id))
            return new CommandFailed(FailureCode.InvalidArgument, "container id must not be empty");
        if (id.Length > 256 || id.Contains('/') || id.Contains('\0') || id == "." || id == "..")
            return new CommandFailed(FailureCode.InvalidArgument, $"invalid container id \"{id.Replace("\0", "\\0")}\"");
        return null;
    }

    /// <summary>A bundle path with a NUL or relative to our cwd can only be a mistake or an attack.</summary>
    internal static CommandFailed? ValidateBundle(string bundle) =>
        bundle.StartsWith('/') && !bundle.Contains('\0')
            ? null
            : new CommandFailed(FailureCode.InvalidArgument, $"bundle must be an absolute path, got \"{bundle.Replace("\0", "\\0")}\"");

    /// <summary>A container actor owns mounts and guests: one that fails is stopped (and reports), never restarted.</summary>
    protected override SupervisorStrategy SupervisorStrategy() =>
        new StopOwnersStrategy(child => !child.Equals(_events) && child.Path.Name != "signals");

    [GeneratedRegex("[^A-Za-z0-9_.=+-]")]
    private static partial Regex SafeName();
}
