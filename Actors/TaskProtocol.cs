using WasmKata.Core.Oci;
using WasmKata.Linux.Mounts;

namespace WasmKata.Actors;

/// <summary>A command for one container of the sandbox; the sandbox routes it by <see cref="ContainerId"/>.</summary>
public interface ITaskCommand
{
    /// <summary>The container the command is for.</summary>
    string ContainerId { get; }
}

/// <summary>Status of a process as containerd sees it.</summary>
public enum ProcessStatus
{
    Unknown = 0,
    Created = 1,
    Running = 2,
    Stopped = 3,
    Paused = 4,
}

/// <summary>The commands of the task API as the actor tree takes them, and their replies (or a <see cref="CommandFailed"/>).</summary>
public static class TaskProtocol
{
    /// <summary>The stdio of a process: FIFO paths or log URIs, empty when absent.</summary>
    public sealed record Stdio(string Stdin, string Stdout, string Stderr, bool Terminal)
    {
        /// <summary>No stdio at all.</summary>
        public static readonly Stdio None = new("", "", "", false);
    }

    /// <summary>Create a container and its (not yet started) init process. Replies <see cref="Created"/>.</summary>
    public sealed record CreateTask(string ContainerId, string Bundle, IReadOnlyList<MountSpec> Rootfs, Stdio Stdio, string ConfigPath = "") : ITaskCommand;

    /// <summary>Start init (empty <paramref name="ExecId"/>) or an added exec. Replies <see cref="Started"/>.</summary>
    public sealed record StartTask(string ContainerId, string ExecId) : ITaskCommand;

    /// <summary>Read a process's state. Replies <see cref="ProcessView"/>.</summary>
    public sealed record QueryState(string ContainerId, string ExecId) : ITaskCommand;

    /// <summary>Reply when the process has exited (at once if it has). Replies <see cref="Exited"/>.</summary>
    public sealed record WaitTask(string ContainerId, string ExecId) : ITaskCommand;

    /// <summary>Signal one process, or every process of the container. Replies <see cref="Done"/>.</summary>
    public sealed record KillTask(string ContainerId, string ExecId, int Signal, bool All) : ITaskCommand;

    /// <summary>Delete a stopped process; for init, the container. Replies <see cref="Exited"/>.</summary>
    public sealed record DeleteTask(string ContainerId, string ExecId) : ITaskCommand;

    /// <summary>Register an exec without starting it. Replies <see cref="Done"/>.</summary>
    public sealed record AddExec(string ContainerId, string ExecId, string ProcessJson, Stdio Stdio) : ITaskCommand;

    /// <summary>Close a process's stdin once what was written is delivered. Replies <see cref="Done"/>.</summary>
    public sealed record CloseStdin(string ContainerId, string ExecId) : ITaskCommand;

    /// <summary>Set the window size of a process's terminal (a no-op without one). Replies <see cref="Done"/>.</summary>
    public sealed record ResizePty(string ContainerId, string ExecId, ushort Columns, ushort Rows) : ITaskCommand;

    /// <summary>List the container's processes. Replies <see cref="PidList"/>.</summary>
    public sealed record ListPids(string ContainerId) : ITaskCommand;

    /// <summary>Resource figures of a container. Replies <see cref="StatsView"/>.</summary>
    public sealed record QueryStats(string ContainerId) : ITaskCommand;

    /// <summary>Stop every process of the container from executing (they keep their state). Replies <see cref="Done"/>.</summary>
    public sealed record PauseTask(string ContainerId) : ITaskCommand;

    /// <summary>Let a paused container's processes run on. Replies <see cref="Done"/>.</summary>
    public sealed record ResumeTask(string ContainerId) : ITaskCommand;

    /// <summary>Change a running container's limits (OCI <c>LinuxResources</c>). Replies <see cref="Done"/>.</summary>
    public sealed record UpdateTask(string ContainerId, OciResources Resources) : ITaskCommand;

    /// <summary>The figures of the sandbox's host cgroup, if it has one. Replies <see cref="SandboxStatsView"/>.</summary>
    public sealed record QuerySandboxStats;

    /// <summary>The shim's pid and the init pid of a container (0 when unknown). Replies <see cref="Connected"/>.</summary>
    public sealed record ConnectTask(string ContainerId) : ITaskCommand;

    /// <summary>containerd asks the shim to exit; it does only when no container is left. Replies <see cref="ShutdownAnswer"/>.</summary>
    public sealed record RequestShutdown;

    /// <summary>Reply to <see cref="CreateTask"/>.</summary>
    public sealed record Created(uint Pid);

    /// <summary>Reply to <see cref="StartTask"/>.</summary>
    public sealed record Started(uint Pid);

    /// <summary>Reply to <see cref="WaitTask"/> and <see cref="DeleteTask"/>.</summary>
    public sealed record Exited(uint Pid, uint ExitStatus, DateTimeOffset ExitedAt);

    /// <summary>Reply to <see cref="QueryState"/>.</summary>
    public sealed record ProcessView(
        string ContainerId, string ExecId, string Bundle, uint Pid, ProcessStatus Status, Stdio Stdio,
        uint ExitStatus, DateTimeOffset? ExitedAt);

    /// <summary>One entry of <see cref="PidList"/>; <paramref name="ExecId"/> is empty for init.</summary>
    public sealed record PidEntry(uint Pid, string ExecId);

    /// <summary>Reply to <see cref="ListPids"/>; <paramref name="OwnProcesses"/>: each guest is a guest host process of its own
    /// (guest_isolation = "process"), so each entry's pid is a host process, not a thread of the daemon.</summary>
    public sealed record PidList(IReadOnlyList<PidEntry> Processes, bool OwnProcesses = false);

    /// <summary>Reply to <see cref="QueryStats"/>.</summary>
    public sealed record StatsView(long MemoryBytes, long? MemoryLimitBytes, ulong CpuNanoseconds);

    /// <summary>Reply to <see cref="QuerySandboxStats"/>; all null when the sandbox has no cgroup (or it could not be read).</summary>
    public sealed record SandboxStatsView(long? MemoryUsageBytes, long? MemoryLimitBytes, long? CpuUsageNs, long? Pids);

    /// <summary>Reply to <see cref="ConnectTask"/>.</summary>
    public sealed record Connected(uint ShimPid, uint TaskPid);

    /// <summary>Reply to <see cref="RequestShutdown"/>.</summary>
    public sealed record ShutdownAnswer(bool Exiting);

    /// <summary>A command that succeeded with nothing to say.</summary>
    public sealed record Done
    {
        /// <summary>The one instance.</summary>
        public static readonly Done Instance = new();
    }
}
