using System.Diagnostics;
using System.Text;
using Google.Protobuf;
using WasmKata.Core.Protos.Ttrpc;

namespace WasmKata.Specs.Shim;

/// <summary>
/// Every input of a fuzz run with when it was sent and how long its answer took, so that a failure can show the slowest
/// answers and the inputs (of every worker) that led up to the one that got none.
/// </summary>
internal sealed class FuzzTally
{
    private readonly Lock _gate = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly List<FuzzInput> _inputs = [];
    private readonly SortedDictionary<int, int> _statuses = new();
    private int _closed;

    public int Total
    {
        get
        {
            lock (_gate)
            {
                return _inputs.Count;
            }
        }
    }

    public IReadOnlyList<KeyValuePair<FuzzKind, int>> ByKind
    {
        get
        {
            lock (_gate)
            {
                return [.. _inputs.GroupBy(i => i.Kind).OrderBy(g => g.Key).Select(g => KeyValuePair.Create(g.Key, g.Count()))];
            }
        }
    }

    public IReadOnlyList<KeyValuePair<int, int>> ByStatus
    {
        get
        {
            lock (_gate)
            {
                return _statuses.ToList();
            }
        }
    }

    public int ClosedByServer => Volatile.Read(ref _closed);

    /// <summary>Notes an input about to be sent; <paramref name="streamId"/> for a well-formed request that must be answered.</summary>
    public FuzzInput Begin(int worker, FuzzKind kind, byte[] bytes, uint? streamId = null)
    {
        lock (_gate)
        {
            var input = new FuzzInput(_inputs.Count + 1, worker, kind, bytes, streamId, _clock.Elapsed);
            _inputs.Add(input);
            return input;
        }
    }

    /// <summary>The server answered <paramref name="input"/> (or one of its frames) with <paramref name="status"/>.</summary>
    public void Answered(FuzzInput input, int status)
    {
        lock (_gate)
        {
            _statuses[status] = _statuses.GetValueOrDefault(status) + 1;
            input.Statuses.Add(status);
            if (input.StreamId is not null)
                input.Took = _clock.Elapsed - input.Started;
        }
    }

    /// <summary>The server closed the connection of <paramref name="input"/>.</summary>
    public void Closed(FuzzInput input)
    {
        Interlocked.Increment(ref _closed);
        lock (_gate)
        {
            input.Took = _clock.Elapsed - input.Started;
        }
    }

    /// <summary>A stalled client: it expects nothing, so it is done once sent.</summary>
    public void Sent(FuzzInput input)
    {
        lock (_gate)
        {
            input.Took = TimeSpan.Zero;
        }
    }

    /// <summary>The <paramref name="count"/> inputs that waited longest for their answer (or close), slowest first.</summary>
    public IReadOnlyList<FuzzInput> Slowest(int count)
    {
        lock (_gate)
        {
            return [.. _inputs.Where(i => i.Took is not null).OrderByDescending(i => i.Took).Take(count)];
        }
    }

    /// <summary>Answer times of the well-formed requests: median, 99th percentile and the largest.</summary>
    public string AnswerTimes()
    {
        List<TimeSpan> times;
        lock (_gate)
        {
            times = [.. _inputs.Where(i => i.StreamId is not null && i.Took is not null).Select(i => i.Took!.Value).Order()];
        }

        return times.Count == 0
            ? "no requests answered"
            : $"{times.Count} requests answered in median {Ms(times[times.Count / 2])}, p99 {Ms(times[times.Count * 99 / 100])}, max {Ms(times[^1])}";
    }

    /// <summary>
    /// Why a run failed on <paramref name="failed"/>: it, every input of any worker sent up to
    /// <paramref name="before"/> earlier (what led to it), those still unanswered, and the slowest answers.
    /// </summary>
    public string Explain(FuzzInput failed, TimeSpan before, int slowest = 10)
    {
        var text = new StringBuilder();
        List<FuzzInput> lead;
        List<FuzzInput> open;
        lock (_gate)
        {
            text.AppendLine().Append("failed: ").AppendLine(failed.Describe(_clock.Elapsed));
            lead = [.. _inputs.Where(i => i != failed && i.Started >= failed.Started - before && i.Started <= failed.Started)];
            open = [.. _inputs.Where(i => i != failed && i.Took is null && i.Started < failed.Started - before)];
            text.AppendLine($"inputs of every worker sent in the {before.TotalSeconds:F0} s before it ({lead.Count}):");
            foreach (var input in lead)
                text.Append("  ").AppendLine(input.Describe(_clock.Elapsed));

            text.AppendLine($"older inputs still waiting ({open.Count}):");
            foreach (var input in open)
                text.Append("  ").AppendLine(input.Describe(_clock.Elapsed));
        }

        text.AppendLine($"slowest {slowest} ({AnswerTimes()}):");
        var slow = Slowest(slowest);
        lock (_gate)
        {
            foreach (var input in slow)
                text.Append("  ").AppendLine(input.Describe(_clock.Elapsed));
        }

        return text.ToString();
    }

    internal static string Ms(TimeSpan time) => $"{time.TotalMilliseconds:F0} ms";
}

/// <summary>One input of a fuzz run: what was sent, by which worker, when, and what came of it.</summary>
internal sealed class FuzzInput(int number, int worker, FuzzKind kind, byte[] bytes, uint? streamId, TimeSpan started)
{
    public int Number { get; } = number;

    public int Worker { get; } = worker;

    public FuzzKind Kind { get; } = kind;

    /// <summary>What was sent.</summary>
    public byte[] Bytes { get; } = bytes;

    /// <summary>Set on well-formed requests: the stream the answer must come on.</summary>
    public uint? StreamId { get; } = streamId;

    /// <summary>Since the tally was made.</summary>
    public TimeSpan Started { get; } = started;

    /// <summary>Time to the answer (requests) or to the server's close (other inputs); null while waiting.</summary>
    public TimeSpan? Took { get; set; }

    public List<int> Statuses { get; } = [];

    /// <summary>One line: number, worker, start, kind, what it asked, and its answer or how long it has waited.</summary>
    public string Describe(TimeSpan now)
    {
        var outcome = Took is { } took
            ? $"{(Statuses.Count > 0 ? "status " + string.Join(",", Statuses) : StreamId is null ? "closed" : "sent")} after {FuzzTally.Ms(took)}"
            : $"NO ANSWER after {FuzzTally.Ms(now - Started)}";
        return $"#{Number} w{Worker} at {Started.TotalSeconds:F3} s {Kind} {What()} -> {outcome}";
    }

    private string What()
    {
        if (StreamId is null || Bytes.Length < 10)
            return $"{Bytes.Length} bytes {Convert.ToHexString(Bytes.AsSpan(0, Math.Min(24, Bytes.Length)))}";

        try
        {
            var request = Request.Parser.ParseFrom(Bytes.AsSpan(10));
            var timeout = request.TimeoutNano != 0 ? $" timeout_nano={request.TimeoutNano}" : "";
            return $"{request.Service}/{request.Method} stream {StreamId}{timeout} {Payload(request)}";
        }
        catch (InvalidProtocolBufferException)
        {
            return $"{Bytes.Length} bytes (no request) stream {StreamId}";
        }
    }

    private static string Payload(Request request)
    {
        var method = TtrpcFuzzer.Methods.FirstOrDefault(m => m.Name == request.Method);
        if (method is not null)
        {
            try
            {
                return method.InputType.Parser.ParseFrom(request.Payload).ToString() ?? "";
            }
            catch (Exception e) when (e is InvalidProtocolBufferException or InvalidOperationException)
            {
                // Garbage for the method: the bytes say more.
            }
        }

        return $"payload {request.Payload.Length} bytes {Convert.ToHexString(request.Payload.Span[..Math.Min(24, request.Payload.Length)])}";
    }
}
