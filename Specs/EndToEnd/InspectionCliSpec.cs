using System.Diagnostics;
using System.Text.Json;
using Xunit;
using Xunit.Abstractions;

namespace WasmKata.Specs.EndToEnd;

/// <summary>
/// The published `wasmkata` CLI against real shims started by containerd: two sandboxes (one shim each) are listed,
/// the tree shows a process's three pumps, a deleted container disappears, and the JSON parses.
/// </summary>
[Collection(EndToEndCollection.Name)]
[Trait("Category", "EndToEnd")]
[Trait("Requires", "root")]
[Trait("Runtime", "wasmkata")]
public sealed class InspectionCliSpec(ContainerdFixture fixture, ITestOutputHelper output)
{
    // Shims start their inspection system a second after they serve containerd, then join the cluster.
    private static readonly TimeSpan Visible = TimeSpan.FromSeconds(30);

    private Ctr Ctr => fixture.Ctr;

    private string Cli => Path.Combine(fixture.ShimDir, "wasmkata");

    [Fact]
    public async Task Cli_must_list_two_shims_show_three_pumps_and_forget_a_deleted_container()
    {
        var sleepImage = await fixture.Images.WasmAsync(new WasmImage("sleep"));
        var catImage = await fixture.Images.WasmAsync(new WasmImage("cat"));
        var sleeper = await DetachedContainer.StartAsync(Ctr, Ctr.WasmRuntime, sleepImage, "inspect-sleep", "/app.wasm", "3600");
        var catId = ContainerdFixture.NewId("inspect-cat");
        // A foreground run whose stdin stays open: the guest (cat) keeps running and its stdin pump stays.
        using var cat = StartWithOpenStdin(Ctr.RunArgs(Ctr.WasmRuntime, catImage, catId, null, "/app.wasm"));
        try
        {
            await Ctr.WaitForTaskStatusAsync(catId, "RUNNING", TimeSpan.FromSeconds(10));

            // Both listed, each by its own shim, and both shims in one cluster.
            var ps = await PsUntilAsync(shims =>
                Containers(shims).Intersect([sleeper.Id, catId]).Count() == 2 &&
                shims.All(s => s.GetProperty("shim").GetProperty("cluster").GetProperty("members").EnumerateArray()
                    .Count(m => m.GetProperty("status").GetString() == "Up") >= 2));
            var shimOf = ps.ToDictionary(s => s.GetProperty("containers")[0].GetProperty("id").GetString()!, s => s.GetProperty("shim").GetProperty("pid").GetInt32());
            Assert.NotEqual(shimOf[sleeper.Id], shimOf[catId]);
            Assert.Subset(fixture.ShimProcesses().ToHashSet(), new HashSet<int> { shimOf[sleeper.Id], shimOf[catId] });
            var catContainer = ps.Single(s => shimOf[catId] == s.GetProperty("shim").GetProperty("pid").GetInt32()).GetProperty("containers")[0];
            Assert.Equal("Running", catContainer.GetProperty("status").GetString());
            Assert.True(catContainer.GetProperty("pid").GetInt32() > 0);

            var table = await RunCliAsync("ps", "-n", Ctr.Namespace);
            output.WriteLine(table.StdoutText);
            Assert.Contains(catId, table.StdoutText);

            var tree = await RunCliAsync("tree", catId);
            output.WriteLine(tree.StdoutText);
            Assert.True(tree.ExitCode == 0, tree.Describe());
            foreach (var line in new[] { "└── init", "├── stderr", "├── stdin", "└── stdout" })
                Assert.Contains(line, tree.StdoutText);

            var inspect = await RunCliAsync("inspect", catId);
            Assert.True(inspect.ExitCode == 0, inspect.Describe());
            using (var json = JsonDocument.Parse(inspect.StdoutText))
            {
                var process = json.RootElement.GetProperty("container").GetProperty("processes")[0];
                Assert.Equal(["stderr", "stdin", "stdout"], process.GetProperty("pumps").EnumerateArray().Select(p => p.GetString()).Order());
                Assert.Equal(shimOf[catId], json.RootElement.GetProperty("shim").GetProperty("pid").GetInt32());
            }

            // Deleting the sleeper ends its shim (its last container): it leaves the listing.
            await sleeper.DisposeAsync();
            await PsUntilAsync(shims => !Containers(shims).Contains(sleeper.Id) && Containers(shims).Contains(catId));
        }
        finally
        {
            cat.StandardInput.Close();
            if (!cat.WaitForExit(TimeSpan.FromSeconds(10)))
                cat.Kill(entireProcessTree: true);
            await Ctr.ForceRemoveAsync(catId);
            await sleeper.DisposeAsync();
        }
    }

    private static IEnumerable<string> Containers(IEnumerable<JsonElement> shims) =>
        shims.SelectMany(s => s.GetProperty("containers").EnumerateArray()).Select(c => c.GetProperty("id").GetString()!);

    /// <summary>Runs `wasmkata ps --json` for this run's namespace until <paramref name="done"/> holds for its shims.</summary>
    private async Task<List<JsonElement>> PsUntilAsync(Func<List<JsonElement>, bool> done)
    {
        var deadline = DateTime.UtcNow + Visible;
        ProcessResult ps;
        while (true)
        {
            ps = await RunCliAsync("ps", "--json", "-n", Ctr.Namespace);
            Assert.True(ps.ExitCode == 0, ps.Describe());
            using var json = JsonDocument.Parse(ps.StdoutText);
            var shims = json.RootElement.GetProperty("shims").EnumerateArray().Select(s => s.Clone()).ToList();
            if (done(shims))
                return shims;
            if (DateTime.UtcNow > deadline)
                Assert.Fail($"wasmkata ps never showed what was expected within {Visible.TotalSeconds:F0} s:\n{ps.Describe()}\n{fixture.LogTail()}");
            await Task.Delay(250);
        }
    }

    private Task<ProcessResult> RunCliAsync(params string[] args) =>
        ChildProcess.RunAsync(Cli, args, TimeSpan.FromSeconds(30), context: () => fixture.LogTail());

    private Process StartWithOpenStdin(IEnumerable<string> runArgs)
    {
        var info = new ProcessStartInfo("ctr")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { "-a", Ctr.Address, "-n", Ctr.Namespace }.Concat(runArgs))
            info.ArgumentList.Add(arg);
        var process = Process.Start(info) ?? throw new InvalidOperationException("could not start ctr");
        // Drain its output so it never blocks on a full pipe.
        _ = process.StandardOutput.ReadToEndAsync();
        _ = process.StandardError.ReadToEndAsync();
        return process;
    }
}
