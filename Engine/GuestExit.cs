using WasmKata.Core;

namespace WasmKata.Engine;

/// <summary>How a guest ended, as a process exit status.</summary>
/// <param name="Status">0-255: the guest's exit code, 134 for a trap, 128 + signal when killed.</param>
/// <param name="TrapMessage">The trap text when the guest trapped, e.g. "wasm trap: wasm `unreachable` instruction executed".</param>
/// <param name="Killed">Whether the guest was ended by <see cref="Guest.Kill"/>.</param>
public readonly record struct GuestExit(int Status, string? TrapMessage, bool Killed)
{
    /// <summary>The status reported for a trap, as for a process ended by SIGABRT.</summary>
    public const int TrapStatus = ExitStatus.Trap;
}
