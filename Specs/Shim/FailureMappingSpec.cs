using WasmKata.Actors;
using WasmKata.Core;
using WasmKata.Shim.Errors;
using WasmKata.Shim.Ttrpc;
using Xunit;

namespace WasmKata.Specs.Shim;

/// <summary>The one table from domain failures to ttrpc statuses.</summary>
public sealed class FailureMappingSpec
{
    [Theory]
    [InlineData(FailureCode.NotFound, 5)]
    [InlineData(FailureCode.AlreadyExists, 6)]
    [InlineData(FailureCode.InvalidArgument, 3)]
    [InlineData(FailureCode.FailedPrecondition, 9)]
    [InlineData(FailureCode.Unavailable, 14)]
    [InlineData(FailureCode.Internal, 13)]
    [InlineData(FailureCode.Unimplemented, 12)]
    [InlineData(FailureCode.Unknown, 2)]
    public void Each_failure_code_must_map_to_its_grpc_status(FailureCode code, int wire)
    {
        Assert.Equal(wire, (int)FailureMapping.ToStatusCode(code));
        Assert.Equal(wire, (int)FailureMapping.ToException(new CommandFailed(code, "x")).Code);
    }

    [Fact]
    public void Every_failure_code_must_be_in_the_table()
    {
        foreach (var code in Enum.GetValues<FailureCode>())
            Assert.True(code == FailureCode.Unknown || FailureMapping.ToStatusCode(code) != StatusCode.Unknown, $"{code} is not mapped");
    }

    [Theory]
    [InlineData(FailureCode.NotFound, "container t1", "container t1: not found")]
    [InlineData(FailureCode.NotFound, "container t1: not found", "container t1: not found")]
    [InlineData(FailureCode.NotFound, "", "not found")]
    [InlineData(FailureCode.AlreadyExists, "exec e1", "exec e1: already exists")]
    [InlineData(FailureCode.InvalidArgument, "container id must not be empty", "container id must not be empty: invalid argument")]
    [InlineData(FailureCode.FailedPrecondition, "container t1 is running", "container t1 is running: failed precondition")]
    [InlineData(FailureCode.Unavailable, "the shim is shutting down", "the shim is shutting down: unavailable")]
    [InlineData(FailureCode.Unimplemented, "pause", "pause: not implemented")]
    [InlineData(FailureCode.Internal, "wasm trap: unreachable", "wasm trap: unreachable")]
    [InlineData(FailureCode.Unknown, "cannot delete a running process", "cannot delete a running process")]
    public void Message_must_follow_the_errdefs_form(FailureCode code, string message, string wire)
    {
        Assert.Equal(wire, FailureMapping.ToWireMessage(new CommandFailed(code, message)));
    }

    [Theory]
    [InlineData(FailureCode.NotFound, "container t1: not found", "not found", "container t1: not found")]
    [InlineData(FailureCode.Unimplemented, "pause", "not implemented", "pause: not implemented")]
    [InlineData(FailureCode.Unknown, "cannot delete a running process", "unknown", "cannot delete a running process: unknown")]
    public void Ctr_must_show_the_class_exactly_once(FailureCode code, string message, string errdefsClass, string shown)
    {
        // containerd 1.6 FromGRPC: strip a trailing ": <class>", then wrap with the class again.
        var wire = FailureMapping.ToWireMessage(new CommandFailed(code, message));
        var rebased = wire == errdefsClass ? "" : wire.EndsWith(": " + errdefsClass, StringComparison.Ordinal) ? wire[..^(errdefsClass.Length + 2)] : wire;
        Assert.Equal(shown, rebased.Length == 0 ? errdefsClass : rebased + ": " + errdefsClass);
    }
}
