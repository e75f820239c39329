using WasmKata.Config;
using WasmKata.Core;
using WasmKata.Core.Oci;
using WasmKata.Core.Plan;
using WasmKata.Specs.Linux;
using Xunit;

namespace WasmKata.Specs.Core.Plan;

public sealed class ContainerPlanSpec : IDisposable
{
    private readonly TempDirectory _bundle = new();
    private readonly string _config;

    public ContainerPlanSpec()
    {
        _config = _bundle.Sub("configuration.toml");
        File.WriteAllText(_config, "[runtime]\nname = \"wasm_container\"\n[wasmkata]\nsandbox_memory_overhead_mb = 64\n");
    }

    public void Dispose() => _bundle.Dispose();

    [Fact]
    public void A_good_bundle_must_give_spec_hooks_limits_rootfs_preopens_and_configuration_in_one_read()
    {
        var data = _bundle.CreateSub("data");
        Spec($$"""
            {
              "process": { "args": ["/app.wasm"] },
              "root": { "path": "rootfs" },
              "annotations": { "{{GuestPlan.WasmAnnotation}}": "yes" },
              "mounts": [ { "destination": "/data", "type": "bind", "source": "{{data}}", "options": ["rbind", "ro"] } ],
              "linux": { "resources": { "memory": { "limit": 1048576 } } },
              "hooks": { "poststop": [ { "path": "/bin/true" } ] }
            }
            """);

        var plan = ContainerPlan.Read(_bundle.Path, _config);

        Assert.Equal(["/app.wasm"], plan.Spec.Process!.Args!);
        Assert.Equal(_bundle.Sub("rootfs"), plan.RootfsPath);
        Assert.Equal(1048576, plan.Limits.MemoryLimitBytes);
        Assert.Equal([new Preopen(data, "/data", true)], plan.Preopens);
        Assert.True(plan.IsMarkedWasm);
        Assert.False(plan.IsPodSandbox);
        Assert.Equal("/bin/true", plan.Hooks.For(HookKind.Poststop).Single().Path);
        Assert.Empty(plan.Hooks.For(HookKind.CreateRuntime));
        Assert.Equal(_config, plan.Config.SourcePath);
        Assert.Equal(64, plan.Config.SandboxMemoryOverheadMb);
    }

    [Fact]
    public void A_pod_sandbox_container_runs_no_guest_so_its_mounts_must_not_be_checked()
    {
        Spec($$"""
            {
              "annotations": { "{{GuestPlan.ContainerTypeAnnotation}}": "sandbox" },
              "mounts": [ { "destination": "/data", "type": "bind", "source": "{{_bundle.Sub("absent")}}" } ]
            }
            """);

        var plan = ContainerPlan.Read(_bundle.Path, _config);

        Assert.True(plan.IsPodSandbox);
        Assert.Empty(plan.Preopens);
        Assert.True(plan.Hooks.IsEmpty);
    }

    [Fact]
    public void A_missing_config_json_must_be_refused_naming_the_file()
    {
        var e = Assert.Throws<OciSpecException>(() => ContainerPlan.Read(_bundle.Path, _config));

        Assert.Contains(_bundle.Sub("config.json"), e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_config_json_that_is_not_json_must_be_refused_naming_the_file()
    {
        Spec("{ \"process\": ");

        var e = Assert.Throws<OciSpecException>(() => ContainerPlan.Read(_bundle.Path, _config));

        Assert.StartsWith($"{_bundle.Sub("config.json")} is not valid OCI JSON", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_bad_configuration_key_must_be_refused_before_the_spec_is_looked_at()
    {
        File.WriteAllText(_config, "[wasmkata]\nno_such_key = 1\n");
        Spec("not json");

        var e = Assert.Throws<ConfigException>(() => ContainerPlan.Read(_bundle.Path, _config));

        Assert.Contains(_config, e.Message, StringComparison.Ordinal);
        Assert.Contains("\"wasmkata.no_such_key\"", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_malformed_hook_must_be_refused_naming_the_file_kind_and_index()
    {
        Spec("""{ "hooks": { "createRuntime": [ { "path": "relative/hook" } ] } }""");

        var e = Assert.Throws<OciSpecException>(() => ContainerPlan.Read(_bundle.Path, _config));

        Assert.Equal($"{_bundle.Sub("config.json")}: hooks.createRuntime[0]: path 'relative/hook' must be absolute", e.Message);
    }

    [Fact]
    public void A_missing_mount_source_must_be_refused_as_not_found()
    {
        Spec($$"""{ "mounts": [ { "destination": "/data", "type": "bind", "source": "{{_bundle.Sub("absent")}}" } ] }""");

        var e = Assert.Throws<GuestPlanException>(() => ContainerPlan.Read(_bundle.Path, _config));

        Assert.Equal(FailureCode.NotFound, e.Code);
    }

    [Fact]
    public void TryRead_must_keep_the_failure_for_the_container_to_report_and_Get_must_throw_it()
    {
        var read = ContainerPlan.TryRead(_bundle.Path, _config);

        Assert.Null(read.Plan);
        var e = Assert.IsType<OciSpecException>(read.Failure);
        Assert.Same(e, Assert.Throws<OciSpecException>(() => read.Get()));

        Spec("{}");
        Assert.NotNull(ContainerPlan.TryRead(_bundle.Path, _config).Get());
    }

    private void Spec(string json) => File.WriteAllText(_bundle.Sub("config.json"), json);
}
