using WasmKata.Core.Plan;

namespace WasmKata.Actors.WasmProcess;

/// <summary>
/// What runs one guest for a <see cref="WasmProcessActor"/>: a thread of the daemon (<see cref="GuestThread"/>) or a
/// confined guest host process (<see cref="GuestProcess"/>). Both report GuestReady, GuestFailed and GuestFinished to
/// their owner by message.
/// </summary>
internal interface IGuestRunner
{
    /// <summary>Lets the prepared guest run.</summary>
    void Start();

    /// <summary>Ends the guest with <paramref name="signal"/>, before or after Start; idempotent.</summary>
    void Kill(int signal);

    /// <summary>Stops the guest from executing until <see cref="Resume"/>.</summary>
    void Pause();

    /// <summary>Lets a paused guest run on.</summary>
    void Resume();

    /// <summary>Changes the memory limit and the CPU quota (null: unlimited).</summary>
    void UpdateLimits(long? memoryLimitBytes, GuestCpuLimit? cpu);

    /// <summary>Memory for stats, in bytes.</summary>
    long MemoryBytes { get; }

    /// <summary>CPU time for stats, in ns (kept after the guest ended).</summary>
    long CpuTimeNs { get; }
}
