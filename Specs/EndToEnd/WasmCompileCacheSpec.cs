using System.Security.Cryptography;
using WasmKata.Specs.Engine;
using Xunit;

namespace WasmKata.Specs.EndToEnd;

/// <summary>
/// The compile cache shared by every pod on the host, through a real containerd: pods starting one new module at once
/// compile it once, and an entry damaged on disk is refused and rebuilt. Each run has a cache directory of its own
/// (named in configuration.toml), so the counts are this spec's alone.
/// </summary>
[Collection(EndToEndCollection.Name)]
[Trait("Category", "EndToEnd")]
[Trait("Requires", "root")]
[Trait("Runtime", "wasmkata")]
public sealed class WasmCompileCacheSpec(ContainerdFixture fixture)
{
    private const int Pods = 8;

    private Ctr Ctr => fixture.Ctr;

    [Fact]
    public async Task Pods_starting_one_new_module_at_once_must_compile_it_once_and_a_damaged_entry_must_be_rebuilt()
    {
        // Thousands of functions: long enough to compile that the pods' first uses overlap.
        var module = GeneratedModules.Wasm(4000, Guid.NewGuid().ToString("N"));
        var digest = Convert.ToHexStringLower(SHA256.HashData(module));
        var image = await fixture.Images.WasmAsync(new WasmImage("hello") { Binaries = new Dictionary<string, byte[]> { ["/big.wasm"] = module } });
        var cache = Path.Combine(fixture.RunDir, "cache-" + Guid.NewGuid().ToString("N")[..8]);
        var config = Path.Combine(fixture.RunDir, Path.GetFileName(cache) + ".toml");
        await File.WriteAllTextAsync(config, $"[wasmkata.engine]\ncompile_cache_dir = \"{cache}\"\n");

        var runs = await Task.WhenAll(Enumerable.Range(0, Pods).Select(_ => RunAsync(image, config)));

        foreach (var run in runs)
            Assert.True(run.ExitCode == 0, Ctr.Explain(run));
        Assert.True(Compiles(digest) == 1, $"expected one compile of {digest} by {Pods} pods, the log says {Compiles(digest)}\n{fixture.LogTail(120)}");
        Assert.True(LogLines(digest, "compiled by another shim while we waited") >= 1, $"no pod waited for the compile: the runs did not overlap\n{fixture.LogTail(120)}");
        var entry = Assert.Single(Directory.GetFiles(cache, "*.cwasm"));

        var bytes = await File.ReadAllBytesAsync(entry);
        bytes[bytes.Length / 2] ^= 0x5a;
        await File.WriteAllBytesAsync(entry, bytes);
        var afterDamage = await RunAsync(image, config);

        Assert.True(afterDamage.ExitCode == 0, Ctr.Explain(afterDamage));
        Assert.True(LogLines(Path.GetFileName(entry), "refused") == 1, $"the damaged entry was not refused\n{fixture.LogTail(60)}");
        Assert.True(Compiles(digest) == 2, $"the damaged entry was not rebuilt\n{fixture.LogTail(60)}");
        Assert.False((await File.ReadAllBytesAsync(entry)).SequenceEqual(bytes), "the damaged entry is still there");

        var afterRebuild = await RunAsync(image, config);

        Assert.True(afterRebuild.ExitCode == 0, Ctr.Explain(afterRebuild));
        Assert.True(Compiles(digest) == 2, $"the rebuilt entry was not used\n{fixture.LogTail(60)}");
    }

    private Task<ProcessResult> RunAsync(string image, string config) => Ctr.RunAsync(
        Ctr.RunArgs(Ctr.WasmRuntime, image, ContainerdFixture.NewId("cache"), ["--rm", "--runtime-config-path", config], "/big.wasm"),
        timeout: TimeSpan.FromMinutes(3));

    private int Compiles(string digest) => LogLines(digest, ": compiled ");

    // containerd copies each shim's log into its own, one line per entry.
    private int LogLines(string mark, string what)
    {
        using var stream = new FileStream(fixture.LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream);
        var count = 0;
        while (reader.ReadLine() is { } line)
        {
            if (line.Contains(mark, StringComparison.Ordinal) && line.Contains(what, StringComparison.Ordinal))
                count++;
        }
        return count;
    }
}
