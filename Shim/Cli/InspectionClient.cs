using System.Diagnostics;
using System.Net.Sockets;
using Akka.Actor;
using WasmKata.Inspection;

namespace WasmKata.Cli;

/// <summary>What one shim answered, or why it did not.</summary>
internal sealed record ShimAnswer(ShimEntry Entry, ShimSnapshot? Snapshot, string? Error);

/// <summary>
/// The CLI's side of the inspection cluster: a remoting-only actor system (it never joins as a member, so a CLI
/// killed by Ctrl-C leaves nothing behind) that talks to each live shim's gateway at the address the directory gives,
/// and only there: the token of a request goes nowhere the root-only directory did not name. A dormant shim is woken
/// through its bell first.
/// </summary>
internal sealed class InspectionClient : IAsyncDisposable
{
    private readonly InspectionKeys _keys;
    private readonly InspectionDirectory _directory;

    private InspectionClient(ActorSystem system, InspectionKeys keys, InspectionDirectory directory)
    {
        System = system;
        _keys = keys;
        _directory = directory;
    }

    public ActorSystem System { get; }

    /// <summary>Starts the client system with the host's keys from <paramref name="directory"/>.</summary>
    public static InspectionClient Start(InspectionKeys keys, InspectionDirectory directory) => new(
        InspectionRemoting.Start(InspectionRemoting.Settings("remote", "akka.loglevel = OFF\nakka.stdout-loglevel = OFF"), keys), keys, directory);

    /// <summary>The entry of a listening shim: a dormant one is woken first by ringing its bell.</summary>
    /// <exception cref="OperationCanceledException">It did not answer the ring within <paramref name="timeout"/>.</exception>
    public async Task<ShimEntry> AwakeAsync(ShimEntry entry, TimeSpan timeout) =>
        entry.Dormant ? entry with { Port = await InspectionBell.RingAsync(_directory.BellPath(entry.Pid), timeout) } : entry;

    /// <summary>The token for <paramref name="entry"/>'s shim.</summary>
    public string TokenFor(ShimEntry entry) => _keys.TokenFor(entry.Pid, entry.Port);

    /// <summary>The gateway of <paramref name="entry"/>'s shim.</summary>
    public ActorSelection Gateway(ShimEntry entry) => System.ActorSelection(InspectionRemoting.GatewayPath(entry.Port));

    /// <summary>Snapshots of every shim in <paramref name="entries"/>, asked at once; each gets <paramref name="timeout"/>.</summary>
    public async Task<IReadOnlyList<ShimAnswer>> InspectAsync(IEnumerable<ShimEntry> entries, TimeSpan timeout) =>
        await Task.WhenAll(entries.Select(entry => InspectAsync(entry, timeout)));

    private async Task<ShimAnswer> InspectAsync(ShimEntry entry, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        try
        {
            entry = await AwakeAsync(entry, timeout);
            var left = timeout - clock.Elapsed;
            if (left <= TimeSpan.Zero)
                throw new AskTimeoutException("woken too late");
            var reply = await Gateway(entry).Ask<object>(new InspectionWire.Inspect(TokenFor(entry)), left);
            return reply switch
            {
                InspectionWire.InspectReply r => new ShimAnswer(entry, r.Snapshot, null),
                InspectionWire.Denied d => new ShimAnswer(entry, null, $"denied: {d.Reason}"),
                _ => new ShimAnswer(entry, null, $"unexpected reply {reply.GetType().Name}"),
            };
        }
        catch (Exception e) when (e is AskTimeoutException or OperationCanceledException)
        {
            return new ShimAnswer(entry, null, $"did not answer within {timeout.TotalSeconds:0.#} s");
        }
        catch (Exception e) when (e is SocketException or IOException && entry.Dormant)
        {
            return new ShimAnswer(entry, null, $"did not wake: {e.Message}");
        }
        catch (Exception e)
        {
            return new ShimAnswer(entry, null, e.Message);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Task.WhenAny(System.Terminate(), Task.Delay(TimeSpan.FromSeconds(2)));
        _keys.Dispose();
    }
}
