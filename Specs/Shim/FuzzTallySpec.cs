using WasmKata.Core.Protos.TaskApi;
using Xunit;
using Xunit.Abstractions;

namespace WasmKata.Specs.Shim;

public sealed class FuzzTallySpec(ITestOutputHelper output)
{
    private static byte[] Request(uint stream, string method, Google.Protobuf.IMessage payload) =>
        RawTtrpc.Frame(stream, 1, RawTtrpc.RequestBody("containerd.task.v2.Task", method, payload));

    [Fact]
    public void A_failure_must_show_the_unanswered_request_what_led_to_it_and_the_slowest_answers()
    {
        var tally = new FuzzTally();
        var create = tally.Begin(1, FuzzKind.RandomFields, Request(3, "Create", new CreateTaskRequest { Id = "fuzz-id", Bundle = "/" }), 3);
        var noise = tally.Begin(2, FuzzKind.RandomBytes, [1, 2, 3]);
        var delete = tally.Begin(0, FuzzKind.RandomFields, Request(5, "Delete", new DeleteRequest { Id = "fuzz-id" }), 5);
        tally.Answered(create, 3);
        tally.Closed(noise);

        var explained = tally.Explain(delete, TimeSpan.FromSeconds(2));
        output.WriteLine(explained);

        var lines = explained.Split('\n');
        var failed = Assert.Single(lines, l => l.StartsWith("failed: ", StringComparison.Ordinal));
        Assert.Contains("#3 w0", failed);
        Assert.Contains("containerd.task.v2.Task/Delete stream 5", failed);
        Assert.Contains("\"fuzz-id\"", failed);
        Assert.Contains("NO ANSWER", failed);
        Assert.Contains(lines, l => l.Contains("#1 w1", StringComparison.Ordinal) && l.Contains("Create", StringComparison.Ordinal)
            && l.Contains("\"/\"", StringComparison.Ordinal) && l.Contains("status 3 after", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("#2 w2", StringComparison.Ordinal) && l.Contains("3 bytes 010203 -> closed", StringComparison.Ordinal));
        Assert.Equal(2, tally.Slowest(10).Count);
        Assert.StartsWith("1 requests answered", tally.AnswerTimes(), StringComparison.Ordinal);
    }
}
