using Xunit;

namespace WasmKata.Specs.EndToEnd;

/// <summary>A container started with `ctr run -d` and seen RUNNING; disposing removes it whatever its state.</summary>
public sealed class DetachedContainer : IAsyncDisposable
{
    private readonly Ctr _ctr;

    private DetachedContainer(Ctr ctr, string id)
    {
        _ctr = ctr;
        Id = id;
    }

    public string Id { get; }

    public static Task<DetachedContainer> StartAsync(
        Ctr ctr, string? runtime, string image, string prefix, params string[] command) =>
        StartAsync(ctr, runtime, image, prefix, [], command);

    /// <summary>As above, with more `ctr run` options (e.g. --memory-limit) after -d.</summary>
    public static async Task<DetachedContainer> StartAsync(
        Ctr ctr, string? runtime, string image, string prefix, IEnumerable<string> options, params string[] command)
    {
        var container = new DetachedContainer(ctr, ContainerdFixture.NewId(prefix));
        try
        {
            var run = await ctr.RunAsync(Ctr.RunArgs(runtime, image, container.Id, options.Prepend("-d"), command));
            Assert.True(run.ExitCode == 0, ctr.Explain(run));
            await ctr.WaitForTaskStatusAsync(container.Id, "RUNNING", TimeSpan.FromSeconds(10));
            return container;
        }
        catch
        {
            await container.DisposeAsync();
            throw;
        }
    }

    public async ValueTask DisposeAsync() => await _ctr.ForceRemoveAsync(Id);
}
