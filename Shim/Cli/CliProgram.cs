using WasmKata.Inspection;

namespace WasmKata.Cli;

/// <summary>
/// <c>wasmkata</c>: finds the live shims in the directory, asks them, prints. With no shim running it says so and
/// exits 0; a shim that does not answer is named on stderr and skipped. Exit codes: 0 done, 1 failed, 2 usage.
/// </summary>
internal static class CliProgram
{
    public static async Task<int> RunAsync(IReadOnlyList<string> args, TextWriter stdout, TextWriter stderr, CancellationToken cancel)
    {
        var cli = CliArgs.Parse(args, out var error);
        if (cli.Help)
        {
            await stdout.WriteAsync(CliArgs.Usage + "\n");
            return 0;
        }
        if (error is not null)
        {
            await stderr.WriteAsync($"wasmkata: {error}\n{CliArgs.Usage}\n");
            return 2;
        }

        var directory = InspectionDirectory.Open(cli.Directory);
        IReadOnlyList<ShimEntry> entries;
        InspectionKeys? keys;
        try
        {
            entries = Select(directory?.LiveEntries() ?? [], cli);
            // Dormant shims load the keys only when woken: the first CLI of a host may be the one to make them.
            keys = entries.Count == 0 ? null : directory!.LoadOrCreateKeys();
        }
        catch (UnauthorizedAccessException)
        {
            await stderr.WriteLineAsync($"wasmkata: cannot read {cli.Directory}: permission denied (only root may inspect the shims)");
            return 1;
        }
        if (entries.Count == 0 || keys is null)
        {
            var scope = cli.Namespace is null ? "" : $" in namespace {cli.Namespace}";
            await (cli.Json && cli.Command == "ps" ? stderr : stdout).WriteLineAsync($"no wasmkata shim is running{scope}");
            if (cli.Json && cli.Command == "ps")
                await stdout.WriteLineAsync(CliJson.Ps([], []));
            return 0;
        }

        await using var client = InspectionClient.Start(keys, directory!);
        if (cli.Command == "events")
            return await EventsCommand.RunAsync(client, directory!, cli, stdout, stderr, cancel);

        var answers = await client.InspectAsync(entries, cli.Timeout);
        foreach (var missing in answers.Where(a => a.Snapshot is null))
        {
            await stderr.WriteLineAsync(
                $"wasmkata: shim pid {missing.Entry.Pid} (sandbox {missing.Entry.Id}, namespace {missing.Entry.Namespace}, " +
                $"port {missing.Entry.Port}) {missing.Error}; skipped");
        }
        var snapshots = answers.Where(a => a.Snapshot is not null).Select(a => a.Snapshot!).OrderBy(s => s.Shim.Pid).ToList();
        foreach (var partial in snapshots.Where(s => !s.Complete))
            await stderr.WriteLineAsync($"wasmkata: shim pid {partial.Shim.Pid} answered only in part (some actors were too slow)");

        switch (cli.Command)
        {
            case "ps":
                await stdout.WriteAsync(cli.Json
                    ? CliJson.Ps(snapshots, answers.Where(a => a.Snapshot is null).ToList()) + "\n"
                    : PsTable.Render(snapshots));
                return 0;
            case "tree":
                return await TreeCommand.RunAsync(snapshots, cli.Id, stdout, stderr);
            default:
                return await InspectCommand.RunAsync(snapshots, cli.Id!, stdout, stderr);
        }
    }

    private static List<ShimEntry> Select(IEnumerable<ShimEntry> entries, CliArgs cli) =>
        entries.Where(e => cli.Namespace is null || e.Namespace == cli.Namespace).ToList();
}
