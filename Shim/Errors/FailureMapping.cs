using WasmKata.Actors;
using WasmKata.Core;
using WasmKata.Shim.Ttrpc;

namespace WasmKata.Shim.Errors;

/// <summary>The one place where a domain failure becomes a ttrpc status (code and wire text).</summary>
internal static class FailureMapping
{
    /// <summary>The gRPC status code containerd expects for a failure class.</summary>
    public static StatusCode ToStatusCode(FailureCode code) => code switch
    {
        FailureCode.NotFound => StatusCode.NotFound,
        FailureCode.AlreadyExists => StatusCode.AlreadyExists,
        FailureCode.InvalidArgument => StatusCode.InvalidArgument,
        FailureCode.FailedPrecondition => StatusCode.FailedPrecondition,
        FailureCode.Unavailable => StatusCode.Unavailable,
        FailureCode.Internal => StatusCode.Internal,
        FailureCode.Unimplemented => StatusCode.Unimplemented,
        FailureCode.Unknown => StatusCode.Unknown,
        _ => StatusCode.Unknown,
    };

    /// <summary>
    /// The status text, in errdefs form: "&lt;message&gt;: &lt;class&gt;" (e.g. "container t1: not found"), as runc sends it.
    /// containerd strips a trailing ": &lt;class&gt;" and appends its own, so ctr shows the text once either way;
    /// Internal and Unknown carry the bare message because they have no stable errdefs class across 1.6 and 2.x.
    /// </summary>
    public static string ToWireMessage(CommandFailed failure)
    {
        ArgumentNullException.ThrowIfNull(failure);
        var suffix = ErrdefsClass(failure.Code);
        var message = failure.Message ?? string.Empty;
        if (suffix is null)
            return message.Length == 0 ? "unknown" : message;

        if (message.Length == 0 || message == suffix)
            return suffix;

        return message.EndsWith(": " + suffix, StringComparison.Ordinal) ? message : message + ": " + suffix;
    }

    /// <summary>The exception a ttrpc handler throws to answer with this failure.</summary>
    public static TtrpcException ToException(CommandFailed failure) =>
        new(ToStatusCode(failure.Code), ToWireMessage(failure));

    // containerd 1.6 errdefs class texts, the suffix FromGRPC strips.
    private static string? ErrdefsClass(FailureCode code) => code switch
    {
        FailureCode.NotFound => "not found",
        FailureCode.AlreadyExists => "already exists",
        FailureCode.InvalidArgument => "invalid argument",
        FailureCode.FailedPrecondition => "failed precondition",
        FailureCode.Unavailable => "unavailable",
        FailureCode.Unimplemented => "not implemented",
        _ => null,
    };
}
