namespace WasmKata.Core;

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
