namespace WasmKata.Actors;

/// <summary>Why a command failed, in terms the task API can express; the shim maps it to a ttrpc status.</summary>
public enum FailureCode
{
    NotFound,
    AlreadyExists,
    InvalidArgument,
    FailedPrecondition,
    Unavailable,
    Internal,
    Unimplemented,
    Unknown,
}

/// <summary>A failed command's reply: a failure class and a human-readable message.</summary>
public sealed record Failure(FailureCode Code, string Message);
