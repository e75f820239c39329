using Akka.Actor;
using WasmKata.Actors;
using WasmKata.Actors.WasmProcess;
using static WasmKata.Actors.Sandbox.SandboxProtocol;
using static WasmKata.Actors.TaskProtocol;

namespace WasmKata.Inspection;

/// <summary>
/// Takes one snapshot and stops. Every level below the sandbox is found with a wildcard <see cref="Identify"/>; the
/// task state comes from the commands the sandbox already routes (ListContainers, ListPids, QueryState, QueryStats),
/// and process actors say which process they run. The walk ends once every question is answered and no actor has
/// answered Identify for the quiet period, or at the deadline with what it has.
/// </summary>
internal sealed class SnapshotActor : ReceiveActor, IWithTimers
{
    /// <summary>Sandbox, container, process, pump: anything deeper is shown, but nothing is expected there.</summary>
    private const int MaxDepth = 4;

    private readonly string _sandboxPath;
    private readonly ShimIdentity _identity;
    private readonly InspectionSettings _settings;
    private readonly IReadOnlyDictionary<string, DateTimeOffset> _startedAt;
    private readonly IActorRef _replyTo;
    private readonly SnapshotParts _parts = new();
    private readonly HashSet<string> _viewsAsked = [];
    private int _outstanding;
    private bool _quiet;

    public SnapshotActor(string sandboxPath, ShimIdentity identity, InspectionSettings settings,
        IReadOnlyDictionary<string, DateTimeOffset> startedAt, IActorRef replyTo)
    {
        _sandboxPath = sandboxPath.TrimEnd('/');
        _identity = identity;
        _settings = settings;
        _startedAt = startedAt;
        _replyTo = replyTo;
        Receive<ActorIdentity>(OnIdentity);
        Receive<Answer>(OnAnswer);
        Receive<QuietPeriodOver>(_ =>
        {
            _quiet = true;
            TryFinish();
        });
        Receive<DeadlinePassed>(_ => Finish(complete: false));
    }

    public ITimerScheduler Timers { get; set; } = null!;

    protected override void PreStart()
    {
        Ask(Context.ActorSelection(_sandboxPath), ListContainers.Instance, "containers", "");
        var pattern = _sandboxPath;
        for (var depth = 1; depth <= MaxDepth; depth++)
        {
            pattern += "/*";
            Context.ActorSelection(pattern).Tell(new Identify(depth), Self);
        }
        Timers.StartSingleTimer("quiet", QuietPeriodOver.Instance, _settings.QuietPeriod);
        Timers.StartSingleTimer("deadline", DeadlinePassed.Instance, _settings.Deadline);
    }

    private void OnIdentity(ActorIdentity identity)
    {
        if (identity.Subject is not { } subject)
            return;
        var relative = Relative(subject.Path);
        if (relative.Length == 0 || !_parts.Actors.Add(relative))
            return;
        if (relative.Count(c => c == '/') == 1)
        {
            // A process actor (init, exec-N): which process it runs, and its guest's own figures.
            Ask(subject, WasmProcessProtocol.DescribeProcess.Instance, "describe", relative);
            Ask(subject, new WasmProcessProtocol.QueryStats(null), "process-stats", relative);
        }
        _quiet = false;
        Timers.StartSingleTimer("quiet", QuietPeriodOver.Instance, _settings.QuietPeriod);
    }

    private void OnAnswer(Answer answer)
    {
        _outstanding--;
        switch (answer.Reply)
        {
            case ContainerList list when answer.Kind == "containers":
                _parts.ContainerIds = list.Ids;
                foreach (var id in list.Ids)
                {
                    AskView(id, "");
                    Ask(Context.ActorSelection(_sandboxPath), new ListPids(id), "pids", id);
                    Ask(Context.ActorSelection(_sandboxPath), new TaskProtocol.QueryStats(id), "container-stats", id);
                }
                break;
            case PidList pids:
                foreach (var entry in pids.Processes.Where(p => p.ExecId.Length > 0))
                    AskView(answer.Key, entry.ExecId);
                break;
            case ProcessView view:
                _parts.Views[SnapshotBuilder.Key(view.ContainerId, view.ExecId)] = view;
                break;
            case StatsView stats when answer.Kind == "container-stats":
                _parts.ContainerStats[answer.Key] = stats;
                break;
            case StatsView stats:
                _parts.ProcessStats[answer.Key] = stats;
                break;
            case WasmProcessProtocol.ProcessDescription description:
                _parts.Descriptions[answer.Key] = description;
                AskView(description.ContainerId, description.ExecId);
                break;
        }
        TryFinish();
    }

    private void AskView(string containerId, string execId)
    {
        if (_viewsAsked.Add(SnapshotBuilder.Key(containerId, execId)))
            Ask(Context.ActorSelection(_sandboxPath), new QueryState(containerId, execId), "view", containerId);
    }

    private void Ask(ICanTell target, object message, string kind, string key)
    {
        _outstanding++;
        var task = target switch
        {
            ActorSelection selection => selection.Ask<object>(message, _settings.Deadline),
            IActorRef actor => actor.Ask<object>(message, _settings.Deadline),
            _ => throw new ArgumentException("unexpected target", nameof(target)),
        };
        task.PipeTo(Self, success: reply => new Answer(kind, key, reply), failure: _ => new Answer(kind, key, null));
    }

    private void TryFinish()
    {
        if (_quiet && _outstanding == 0 && _parts.ContainerIds is not null)
            Finish(complete: true);
    }

    private void Finish(bool complete)
    {
        _replyTo.Tell(SnapshotBuilder.Build(_sandboxPath, _identity, Linux.Self.ResidentSetBytes(), _startedAt, _parts, complete));
        Context.Stop(Self);
    }

    /// <summary>The path below the sandbox, as "container/process/pump".</summary>
    private string Relative(ActorPath path)
    {
        var depth = _sandboxPath.Count(c => c == '/');
        return string.Join('/', path.Elements.Skip(depth));
    }

    private sealed record Answer(string Kind, string Key, object? Reply);

    private sealed record QuietPeriodOver
    {
        public static readonly QuietPeriodOver Instance = new();
    }

    private sealed record DeadlinePassed
    {
        public static readonly DeadlinePassed Instance = new();
    }
}

/// <summary>What a snapshot walk has gathered so far.</summary>
internal sealed class SnapshotParts
{
    /// <summary>Live actors below the sandbox, by relative path ("c1-1/init/stdout").</summary>
    public SortedSet<string> Actors { get; } = new(StringComparer.Ordinal);

    /// <summary>The container ids the sandbox holds; null until it answered.</summary>
    public IReadOnlyList<string>? ContainerIds { get; set; }

    /// <summary>Process states by <see cref="SnapshotBuilder.Key"/>.</summary>
    public Dictionary<string, ProcessView> Views { get; } = [];

    /// <summary>Container figures (init's memory and CPU, the container's limit) by container id.</summary>
    public Dictionary<string, StatsView> ContainerStats { get; } = [];

    /// <summary>What each process actor runs, by its relative path.</summary>
    public Dictionary<string, WasmProcessProtocol.ProcessDescription> Descriptions { get; } = [];

    /// <summary>Each process actor's guest figures, by its relative path.</summary>
    public Dictionary<string, StatsView> ProcessStats { get; } = [];
}
