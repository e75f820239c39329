using WasmKata.Core;

namespace WasmKata.Actors;

/// <summary>A failed command's reply: a failure class and a human-readable message.</summary>
public sealed record CommandFailed(FailureCode Code, string Message);
