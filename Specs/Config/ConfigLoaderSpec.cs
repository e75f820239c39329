using WasmKata.Config;
using Xunit;

namespace WasmKata.Specs.Config;

public sealed class ConfigLoaderSpec : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("wk-config-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, string text)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public void The_shipped_example_must_load_and_equal_the_defaults()
    {
        var example = Path.Combine(RepoRoot(), "Config", "configuration.toml");
        var loaded = ConfigLoader.LoadFile(example);
        Assert.Equal(new ShimConfig() with { SourcePath = example }, loaded);
    }

    [Fact]
    public void Values_must_be_read_from_every_section()
    {
        var path = Write("c.toml", """
            [runtime]
            name = "wasm_container"
            [wasmkata]
            log_level = "debug"
            cgroup_driver = "systemd"
            systemd_address = "unix:path=/run/x.sock"
            sandbox_memory_overhead_mb = 64
            guest_isolation = "process"
            guest_host_seccomp = "kill"
            [wasmkata.engine]
            compile_cache_dir = ""
            compile_cache_max_mb = 300
            baseline_compile_min_mb = 0
            pooling_allocator = true
            outgoing_http = "off"
            epoch_tick_ms = 5
            """);
        var config = ConfigLoader.LoadFile(path);
        Assert.Equal((300, 0), (config.CompileCacheMaxMb, config.BaselineCompileMinMb));
        Assert.Equal("off", config.OutgoingHttp);
        Assert.Equal("annotated", new ShimConfig().OutgoingHttp);
        Assert.Equal(("debug", "systemd", "", true, 5), (config.LogLevel, config.CgroupDriver, config.CompileCacheDir, config.PoolingAllocator, config.EpochTickMs));
        Assert.Equal(("unix:path=/run/x.sock", 64), (config.SystemdAddress, config.SandboxMemoryOverheadMb));
        Assert.Equal(("process", "kill"), (config.GuestIsolation, config.GuestHostSeccomp));
        Assert.Equal("thread", new ShimConfig().GuestIsolation);
    }

    [Theory]
    [InlineData("[runtime]\nname = \"qemu\"", "runtime.name", "\"qemu\"")]
    [InlineData("[wasmkata]\nlog_levle = \"debug\"", "wasmkata.log_levle", "\"debug\"")]
    [InlineData("[wasmkata.engine]\nepoch_tick_ms = 0", "wasmkata.engine.epoch_tick_ms", "0")]
    [InlineData("[wasmkata.engine]\npooling_allocator = \"yes\"", "wasmkata.engine.pooling_allocator", "\"yes\"")]
    [InlineData("[wasmkata.engine]\noutgoing_http = \"on\"", "wasmkata.engine.outgoing_http", "\"on\"")]
    [InlineData("[wasmkata]\nguest_isolation = \"vm\"", "wasmkata.guest_isolation", "\"vm\"")]
    [InlineData("[wasmkata]\nguest_host_uid = 2100000", "wasmkata.guest_host_uid", "2100000")]
    [InlineData("[wasmkata]\nguest_host_seccomp = \"off\"", "wasmkata.guest_host_seccomp", "\"off\"")]
    [InlineData("[hypervisor.qemu]\npath = \"/usr/bin/qemu\"", "hypervisor", "a table")]
    [InlineData("[wasmkata]\nsystemd_address = \"/run/systemd/private\"", "wasmkata.systemd_address", "\"/run/systemd/private\"")]
    [InlineData("[wasmkata]\nsandbox_memory_overhead_mb = -1", "wasmkata.sandbox_memory_overhead_mb", "-1")]
    [InlineData("[wasmkata.engine]\nbaseline_compile_min_mb = -1", "wasmkata.engine.baseline_compile_min_mb", "-1")]
    [InlineData("[wasmkata.engine]\ncompile_cache_max_mb = 0", "wasmkata.engine.compile_cache_max_mb", "0")]
    [InlineData("[wasmkata.engine]\ncompile_cache_dir = \"relative/dir\"", "wasmkata.engine.compile_cache_dir", "\"relative/dir\"")]
    [InlineData("[wasmkata]\nguest_uid_base = 1000", "wasmkata.guest_uid_base", "1000")]
    [InlineData("[wasmkata]\nguest_uid_ranges = 0", "wasmkata.guest_uid_ranges", "0")]
    [InlineData("[wasmkata]\nguest_uid_base = 4294000000\nguest_uid_ranges = 100", "wasmkata.guest_uid_ranges", "100")]
    public void Bad_configuration_must_be_refused_naming_file_key_and_value(string text, string key, string value)
    {
        var path = Write("bad.toml", text);
        var e = Assert.Throws<ConfigException>(() => ConfigLoader.LoadFile(path));
        Assert.Contains(path, e.Message);
        Assert.Contains($"\"{key}\"", e.Message);
        Assert.Contains(value, e.Message);
    }

    [Fact]
    public void Removed_guest_host_uid_must_be_refused_naming_what_replaced_it()
    {
        var path = Write("removed.toml", "[wasmkata]\nguest_host_uid = 2100000\n");
        var e = Assert.Throws<ConfigException>(() => ConfigLoader.LoadFile(path));
        Assert.Contains("is no longer a setting", e.Message);
        Assert.Contains("wasmkata.guest_uid_base", e.Message);
    }

    [Fact]
    public void The_guest_uid_block_must_be_read_and_default_to_1024_ranges_from_2100000()
    {
        var config = ConfigLoader.LoadFile(Write("uids.toml", "[wasmkata]\nguest_uid_base = 3000000000\nguest_uid_ranges = 1000\n"));

        Assert.Equal((3_000_000_000L, 1000), (config.GuestUidBase, config.GuestUidRanges));
        Assert.Equal((2_100_000L, 1024), (new ShimConfig().GuestUidBase, new ShimConfig().GuestUidRanges));
    }

    [Fact]
    public void Broken_toml_must_be_refused_naming_the_file()
    {
        var path = Write("broken.toml", "[runtime\nname = ");
        var e = Assert.Throws<ConfigException>(() => ConfigLoader.LoadFile(path));
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void Options_path_wins_then_the_environment_then_the_default()
    {
        var options = Write("options.toml", "");
        var env = Write("env.toml", "");
        var fallback = Write("default.toml", "");
        Assert.Equal(options, ConfigLoader.Locate(options, env, fallback));
        Assert.Equal(env, ConfigLoader.Locate(null, env, fallback));
        Assert.Equal(fallback, ConfigLoader.Locate("", null, fallback));
        Assert.Null(ConfigLoader.Locate(null, null, Path.Combine(_dir, "absent.toml")));
        Assert.Throws<ConfigException>(() => ConfigLoader.Locate(Path.Combine(_dir, "missing.toml"), env, fallback));
    }

    private static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "WasmKata.sln")))
            dir = dir.Parent;
        return dir?.FullName ?? Environment.GetEnvironmentVariable("WASMKATA_REPO") ?? "/work/main";
    }
}
