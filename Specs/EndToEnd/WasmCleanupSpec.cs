using Xunit;

namespace WasmKata.Specs.EndToEnd;

/// <summary>After `ctr run --rm` nothing of the container is left: no task, container, mount, shim or socket.</summary>
[Collection(EndToEndCollection.Name)]
[Trait("Category", "EndToEnd")]
[Trait("Requires", "root")]
[Trait("Runtime", "wasmkata")]
public sealed class WasmCleanupSpec(ContainerdFixture fixture)
{
    private Ctr Ctr => fixture.Ctr;

    [Fact]
    public async Task Run_with_rm_must_leave_no_task_container_mount_shim_or_socket()
    {
        var image = await fixture.Images.WasmAsync(new WasmImage("hello"));
        var id = ContainerdFixture.NewId("cleanup");
        var shimsBefore = fixture.ShimProcesses().Count;
        var socketsBefore = ContainerdFixture.ShimSockets();

        var run = await Ctr.RunAsync(Ctr.RunArgs(Ctr.WasmRuntime, image, id, null));
        Assert.True(run.ExitCode == 0, Ctr.Explain(run));

        // The shim exits after containerd's last call, a moment after ctr returns.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
        IReadOnlyList<string> leftovers;
        while ((leftovers = await LeftoversAsync(id, shimsBefore, socketsBefore)).Count > 0 && DateTime.UtcNow < deadline)
            await Task.Delay(100);

        Assert.True(leftovers.Count == 0,
            $"left behind after ctr run --rm:\n  {string.Join("\n  ", leftovers)}\n{Ctr.Explain(run)}");
    }

    private async Task<IReadOnlyList<string>> LeftoversAsync(
        string id, int shimsBefore, IReadOnlySet<string> socketsBefore)
    {
        var found = new List<string>();
        var tasks = await Ctr.RunAsync("task", "ls");
        if (Ctr.FirstColumn(tasks.StdoutText).Contains(id))
            found.Add($"task listed by ctr task ls:\n{tasks.StdoutText}");

        var containers = await Ctr.RunAsync("c", "ls");
        if (Ctr.FirstColumn(containers.StdoutText).Contains(id))
            found.Add($"container listed by ctr c ls:\n{containers.StdoutText}");

        var bundle = fixture.BundleDir(id);
        found.AddRange(ContainerdFixture.MountsUnder(bundle).Select(m => $"mount {m}"));
        if (Directory.Exists(bundle))
            found.Add($"bundle directory {bundle}");

        var shims = fixture.ShimProcesses();
        if (shims.Count > shimsBefore)
            found.Add($"{shims.Count} shim processes (pids {string.Join(", ", shims)}), {shimsBefore} before the run");

        var conventional = fixture.ConventionalShimSocket(id);
        if (File.Exists(conventional))
            found.Add($"shim socket {conventional}");

        // /run/containerd/s is shared with every containerd on the host (other runs' shims come and go there): a new
        // socket counts only while a shim of this containerd still runs, the shim that could own it.
        if (fixture.ShimProcesses().Count > shimsBefore)
            found.AddRange(ContainerdFixture.ShimSockets().Except(socketsBefore).Select(s => $"new socket {s}"));

        return found;
    }
}
