using System.Globalization;
using Akka.Actor;
using WasmKata.Inspection;

namespace WasmKata.Cli;

/// <summary>
/// `wasmkata events`: subscribes to every live shim's events, and keeps the subscriptions alive by renewing them
/// (a lease, so a CLI that vanishes is forgotten by the shims without any death watch) while it watches the
/// directory for shims that start later. Ends on Ctrl-C, unsubscribing.
/// </summary>
internal static class EventsCommand
{
    private const int LeaseSeconds = 15;
    private static readonly TimeSpan s_renewEvery = TimeSpan.FromSeconds(LeaseSeconds / 3.0);

    public static async Task<int> RunAsync(
        InspectionClient client, InspectionDirectory directory, CliArgs cli, TextWriter stdout, TextWriter stderr, CancellationToken cancel)
    {
        var printer = client.System.ActorOf(Props.Create(() => new EventPrinterActor(stdout, stderr, cli.Json)), "events");
        var watched = new Dictionary<int, ShimEntry>();
        while (!cancel.IsCancellationRequested)
        {
            var live = directory.LiveEntries().Where(e => cli.Namespace is null || e.Namespace == cli.Namespace).ToList();
            foreach (var gone in watched.Keys.Except(live.Select(e => e.Pid)).ToList())
            {
                await stderr.WriteLineAsync($"wasmkata: shim pid {gone} (sandbox {watched[gone].Id}) is gone");
                watched.Remove(gone);
            }
            foreach (var listed in live)
            {
                var entry = watched.TryGetValue(listed.Pid, out var known) ? known : await WakeAsync(client, listed, cli.Timeout, stderr);
                if (entry is null)
                    continue;
                watched[entry.Pid] = entry;
                client.Gateway(entry).Tell(new InspectionWire.SubscribeEvents(client.TokenFor(entry), LeaseSeconds), printer);
            }
            try
            {
                await Task.Delay(s_renewEvery, cancel);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
        foreach (var entry in watched.Values)
            client.Gateway(entry).Tell(new InspectionWire.UnsubscribeEvents(client.TokenFor(entry)), printer);
        return 0;
    }

    // A dormant shim that does not wake is named and tried again at the next renewal.
    private static async Task<ShimEntry?> WakeAsync(InspectionClient client, ShimEntry entry, TimeSpan timeout, TextWriter stderr)
    {
        try
        {
            return await client.AwakeAsync(entry, timeout);
        }
        catch (Exception e) when (e is OperationCanceledException or System.Net.Sockets.SocketException or IOException)
        {
            await stderr.WriteLineAsync($"wasmkata: shim pid {entry.Pid} (sandbox {entry.Id}) did not wake: {e.Message}");
            return null;
        }
    }

    /// <summary>One line per event: time, shim, topic, container[/exec], pid, exit status.</summary>
    internal static string Line(EventView e) => string.Create(CultureInfo.InvariantCulture,
        $"{e.Timestamp.UtcDateTime:yyyy-MM-dd'T'HH:mm:ss.fff'Z'}  shim {e.ShimPid}  {e.Topic,-19} {e.ContainerId}{(e.ExecId.Length > 0 ? "/" + e.ExecId : "")}" +
        $"{(e.Pid > 0 ? $"  pid {e.Pid}" : "")}{(e.ExitStatus is { } s ? $"  exit {s}" : "")}");

    private sealed class EventPrinterActor : ReceiveActor
    {
        private readonly HashSet<int> _following = [];

        public EventPrinterActor(TextWriter stdout, TextWriter stderr, bool json)
        {
            Receive<InspectionWire.Event>(e =>
            {
                stdout.WriteLine(json ? CliJson.EventLine(e.View) : Line(e.View));
                stdout.Flush();
            });
            Receive<InspectionWire.Subscribed>(s =>
            {
                if (_following.Add(s.ShimPid))
                    stderr.WriteLine($"wasmkata: following shim pid {s.ShimPid} (sandbox {s.ShimId}); Ctrl-C stops");
            });
            Receive<InspectionWire.Denied>(d => stderr.WriteLine($"wasmkata: {Sender.Path.Address} denied: {d.Reason}"));
        }
    }
}
