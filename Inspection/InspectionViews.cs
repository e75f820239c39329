namespace WasmKata.Inspection;

/// <summary>Everything one shim holds, at one moment: its identity, its containers and its live actor tree.</summary>
public sealed record ShimSnapshot(ShimInfo Shim, IReadOnlyList<ContainerInfo> Containers, ActorNode Tree, bool Complete);

/// <summary>The shim process: its pid, the sandbox id it was started for, and its resident memory.</summary>
public sealed record ShimInfo(
    int Pid, string Id, string Namespace, string Bundle, DateTimeOffset StartedAt, long ResidentBytes, ClusterView? Cluster);

/// <summary>The inspection cluster as one member sees it.</summary>
public sealed record ClusterView(string SelfAddress, string SelfStatus, IReadOnlyList<MemberView> Members);

/// <summary>One member of the inspection cluster.</summary>
public sealed record MemberView(string Address, string Status, bool Reachable);

/// <summary>
/// One container: its init process's state stands for the container's (as in <c>ctr task ls</c>); memory and CPU are
/// the init guest's, the limit the container's.
/// </summary>
public sealed record ContainerInfo(
    string Id, string Bundle, string Status, uint Pid, uint? ExitStatus, DateTimeOffset? StartedAt, DateTimeOffset? ExitedAt,
    long MemoryBytes, long? MemoryLimitBytes, ulong CpuNanoseconds, string ActorPath, IReadOnlyList<ProcessInfo> Processes);

/// <summary>One process of a container; <paramref name="ExecId"/> is empty for init.</summary>
public sealed record ProcessInfo(
    string ContainerId, string ExecId, uint Pid, string Status, uint? ExitStatus, DateTimeOffset? StartedAt,
    DateTimeOffset? ExitedAt, long MemoryBytes, ulong CpuNanoseconds, StdioInfo Stdio, string ActorPath, IReadOnlyList<string> Pumps);

/// <summary>Where a process's stdio goes: FIFO paths or log URIs, empty when absent.</summary>
public sealed record StdioInfo(string Stdin, string Stdout, string Stderr, bool Terminal);

/// <summary>One live actor under the sandbox, with what it is (kind) and what it is doing (state).</summary>
public sealed record ActorNode(string Name, string Path, string Kind, string State, IReadOnlyList<ActorNode> Children);

/// <summary>A task event as it left the shim for containerd; <paramref name="ExecId"/> is empty for init.</summary>
public sealed record EventView(
    int ShimPid, string ShimId, string Topic, string ContainerId, string ExecId, uint Pid, uint? ExitStatus, DateTimeOffset Timestamp);
