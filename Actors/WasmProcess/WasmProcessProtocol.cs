using Akka.Actor;
using WasmKata.Core;
using WasmKata.Core.Plan;
using WasmKata.Engine;
using WasmKata.Linux.Namespaces;

namespace WasmKata.Actors.WasmProcess;

/// <summary>One guest process (init or an exec) and its stdio pumps.</summary>
public static class WasmProcessProtocol
{
    /// <summary>Everything needed to run one guest.</summary>
    public sealed record Launch(string ContainerId, string ExecId, string ModulePath, GuestConfig Guest, TaskProtocol.Stdio Stdio)
    {
        /// <summary>The sandbox's shared namespaces, entered by the guest thread before anything else.</summary>
        public SandboxNamespaces Namespaces { get; init; } = SandboxNamespaces.None;

        /// <summary>The CPU quota the guest starts with; null is unlimited.</summary>
        public GuestCpuLimit? Cpu { get; init; }

        /// <summary>cgroup v1 CPU shares, applied as the guest thread's nice value; null leaves it alone.</summary>
        public ulong? CpuShares { get; init; }
    }

    /// <summary>The actor for <paramref name="launch"/>; it reports <see cref="ProcessReady"/> or <see cref="ProcessFailed"/> to its parent.</summary>
    public static Props Props(Launch launch, WasmEngine engine, RuntimeSettings settings) =>
        Akka.Actor.Props.Create(() => new WasmProcessActor(launch, engine, settings));

    /// <summary>Run the prepared guest.</summary>
    public sealed record Start
    {
        /// <summary>The one instance.</summary>
        public static readonly Start Instance = new();
    }

    /// <summary>Deliver a signal that ends the guest.</summary>
    public sealed record Signal(int Number);

    /// <summary>Close the guest's stdin (CloseIO).</summary>
    public sealed record CloseStdin
    {
        /// <summary>The one instance.</summary>
        public static readonly CloseStdin Instance = new();
    }

    /// <summary>Set the window size of the guest's terminal (a no-op without one). Replies <see cref="TaskProtocol.Done"/> or <see cref="CommandFailed"/>.</summary>
    public sealed record ResizeTerminal(ushort Columns, ushort Rows);

    /// <summary>Stop the guest from executing (Pause): it keeps its state and burns no CPU until <see cref="Resume"/>.</summary>
    public sealed record Pause
    {
        /// <summary>The one instance.</summary>
        public static readonly Pause Instance = new();
    }

    /// <summary>Let a paused guest continue where it stopped.</summary>
    public sealed record Resume
    {
        /// <summary>The one instance.</summary>
        public static readonly Resume Instance = new();
    }

    /// <summary>Apply new limits to the guest: memory (null unlimited) and CPU quota (null unlimited).</summary>
    public sealed record UpdateLimits(long? MemoryLimitBytes, GuestCpuLimit? Cpu)
    {
        /// <summary>New CPU shares (the guest thread's nice value); null leaves it alone.</summary>
        public ulong? CpuShares { get; init; }
    }

    /// <summary>Ask for memory and CPU figures. Replies <see cref="TaskProtocol.StatsView"/>.</summary>
    public sealed record QueryStats(long? MemoryLimitBytes);

    /// <summary>Which process this actor runs (for inspection, which knows it only by actor name). Replies <see cref="ProcessDescription"/>.</summary>
    public sealed record DescribeProcess
    {
        /// <summary>The one instance.</summary>
        public static readonly DescribeProcess Instance = new();
    }

    /// <summary>Reply to <see cref="DescribeProcess"/>; <paramref name="Undrained"/> are the outputs not yet drained.</summary>
    public sealed record ProcessDescription(string ContainerId, string ExecId, uint Pid, IReadOnlyList<string> Undrained);

    /// <summary>The guest is instantiated and waits for Start.</summary>
    public sealed record ProcessReady(string ExecId, uint Pid);

    /// <summary>The guest could not be prepared.</summary>
    public sealed record ProcessFailed(string ExecId, CommandFailed Failure);

    /// <summary>The guest exited and its output has drained.</summary>
    public sealed record ProcessExited(string ExecId, uint Pid, uint ExitStatus, DateTimeOffset ExitedAt, string? Trap);

    /// <summary>The guest reached its memory limit: a <c>memory.grow</c> can no longer succeed.</summary>
    public sealed record ProcessOom(string ExecId, long MemoryBytes, long LimitBytes);

    internal sealed record GuestOom(long MemoryBytes, long LimitBytes);

    internal sealed record GuestReady(uint Tid);

    internal sealed record GuestFailed(FailureCode Code, string Message);

    internal sealed record GuestFinished(int Status, string? Trap, DateTimeOffset At);

    internal sealed record DrainTimedOut
    {
        public static readonly DrainTimedOut Instance = new();
    }
}
