using Xunit;

namespace WasmKata.Specs.EndToEnd;

/// <summary>A guest sees its image's rootfs and nothing of the host's file system.</summary>
[Collection(EndToEndCollection.Name)]
[Trait("Category", "EndToEnd")]
[Trait("Requires", "root")]
[Trait("Runtime", "wasmkata")]
public sealed class WasmFilesystemSpec(ContainerdFixture fixture)
{
    private const string Message = "a message from inside the image\n";

    // /etc does not exist in the image, but does on the host.
    private static readonly WasmImage Image = new("readfile")
    {
        Files = new Dictionary<string, string> { ["/data/msg.txt"] = Message },
        Symlinks = new Dictionary<string, string>
        {
            ["/data/up"] = "../../../../../../../etc",
            ["/data/absolute"] = "/etc/os-release",
        },
    };

    private Ctr Ctr => fixture.Ctr;

    [Theory]
    [InlineData("/data/msg.txt")]
    [InlineData("data/msg.txt")]
    public async Task Readfile_must_show_a_file_from_the_image(string path)
    {
        var run = await ReadAsync(path);

        Assert.True(run.ExitCode == 0, Ctr.Explain(run));
        Assert.True(run.StdoutText == Message, Ctr.Explain(run));
    }

    [Theory]
    [InlineData("/etc/hostname")]
    [InlineData("/etc/os-release")]
    [InlineData("../../../../../../../etc/os-release")]
    [InlineData("/data/../../../../../../etc/os-release")]
    [InlineData("/data/up/os-release")]
    [InlineData("/data/absolute")]
    public async Task Readfile_must_not_reach_host_files(string path)
    {
        var run = await ReadAsync(path);

        // The guest's own complaint proves it ran: ctr's own failures exit 1 too.
        Assert.True(run.Stderr.Contains($"readfile: {path}: ", StringComparison.Ordinal),
            $"expected the guest's error for {path} on stderr\n{Ctr.Explain(run)}");
        Assert.True(run.ExitCode == 1, $"expected exit 1 for {path}\n{Ctr.Explain(run)}");
        Assert.True(run.Stdout.Length == 0, $"host file content leaked for {path}\n{Ctr.Explain(run)}");
    }

    private async Task<ProcessResult> ReadAsync(string path)
    {
        var image = await fixture.Images.WasmAsync(Image);
        return await Ctr.RunAsync(
            Ctr.RunArgs(Ctr.WasmRuntime, image, ContainerdFixture.NewId("readfile"), null, "/app.wasm", path));
    }
}
