using System.Collections.Immutable;
using Akka.Actor;
using WasmKata.Core.Plan;
using static WasmKata.Actors.WasmProcess.WasmProcessProtocol;

namespace WasmKata.Actors.Container;

/// <summary>
/// Everything a container keeps about one of its processes, in one place: the record, the actor that runs it, who
/// waits for its exit, and who waits for the answer of its create (exec added) or of its delete. Replaced, never mutated.
/// </summary>
internal sealed record ExecEntry(
    ProcessRecord Process, IActorRef? Actor, ImmutableList<IActorRef> Waiters, IActorRef? PendingReply = null, IActorRef? PendingDelete = null)
{
    public string ExecId => Process.ExecId;

    /// <summary>Whoever still expects an answer about this process but has none yet.</summary>
    public IEnumerable<IActorRef> Pending =>
        new[] { PendingReply, PendingDelete }.OfType<IActorRef>();
}

/// <summary>
/// The processes of one container keyed by exec id; pure and immutable, replaced on every change. Ordinal order puts
/// init ("") first, where listings expect it.
/// </summary>
internal sealed record ExecTable(ImmutableSortedDictionary<string, ExecEntry> Entries)
{
    public const string Init = "";

    public static readonly ExecTable Empty = new(ImmutableSortedDictionary.Create<string, ExecEntry>(StringComparer.Ordinal));

    public ExecEntry this[string execId] => Entries[execId];

    public ProcessRecord InitProcess => Entries[Init].Process;

    public IEnumerable<ExecEntry> All => Entries.Values;

    /// <summary>The processes whose guests may still run.</summary>
    public IEnumerable<ExecEntry> Live => Entries.Values.Where(e => e.Process.IsLive);

    /// <summary>Live execs (not init): while any is left, init's exit is held back.</summary>
    public bool HasLiveExecs => Entries.Values.Any(e => e.ExecId != Init && e.Process.IsLive);

    public IReadOnlyDictionary<string, ProcessRecord> Processes => Entries.ToDictionary(e => e.Key, e => e.Value.Process);

    public bool TryGet(string execId, out ExecEntry entry) => Entries.TryGetValue(execId, out entry!);

    public ExecTable With(ExecEntry entry) => new(Entries.SetItem(entry.ExecId, entry));

    public ExecTable Update(string execId, Func<ExecEntry, ExecEntry> change) =>
        Entries.TryGetValue(execId, out var entry) ? With(change(entry)) : this;

    public ExecTable UpdateProcess(string execId, Func<ProcessRecord, ProcessRecord> change) =>
        Update(execId, e => e with { Process = change(e.Process) });

    public ExecTable Without(string execId) => new(Entries.Remove(execId));

    /// <summary>The exec run by <paramref name="actor"/>, if it still has one.</summary>
    public string? ExecOf(IActorRef actor) => Entries.Values.FirstOrDefault(e => actor.Equals(e.Actor))?.ExecId;

    /// <summary>Every pending reply and delete, and every waiter: those a failing container still owes an answer.</summary>
    public IEnumerable<IActorRef> Owed => Entries.Values.SelectMany(e => e.Pending.Concat(e.Waiters));

    /// <summary>The table with no one left waiting: each of them was answered.</summary>
    public ExecTable Settled() => new(Entries.ToImmutableSortedDictionary(
        e => e.Key, e => e.Value with { Waiters = [], PendingReply = null, PendingDelete = null }, StringComparer.Ordinal));
}

/// <summary>What a container knows that changes while it lives: its processes, its limits, and init's exit while held back.</summary>
internal sealed record ContainerData(ExecTable Execs, ContainerLimits Limits, ProcessExited? HeldInitExit = null);
