using WasmKata.Core;
using WasmKata.Core.Oci;
using WasmKata.Core.Plan;
using Xunit;

namespace WasmKata.Specs.Core.Plan;

/// <summary>When a container's module is not a file of its rootfs (a wasm OCI artifact), and what its guest gets then.</summary>
public sealed class GuestPlanArtifactSpec : IDisposable
{
    private readonly string _rootfs = Directory.CreateTempSubdirectory("wk-plan-artifact-").FullName;

    public GuestPlanArtifactSpec() => File.WriteAllBytes(Path.Combine(_rootfs, "app.wasm"), [0]);

    public void Dispose() => Directory.Delete(_rootfs, recursive: true);

    private static OciProcess Process(string[] args, string cwd = "/", params string[] env) => new() { Args = args, Cwd = cwd, Env = env };

    [Fact]
    public void Only_an_args0_that_names_no_file_of_the_rootfs_must_send_the_shim_to_the_image()
    {
        Assert.True(GuestPlan.NamesModuleInRootfs(Process(["/app.wasm"]), _rootfs));
        Assert.True(GuestPlan.NamesModuleInRootfs(Process(["app.wasm"]), _rootfs));
        Assert.False(GuestPlan.NamesModuleInRootfs(Process(["hello.wasm"]), _rootfs));
        Assert.False(GuestPlan.NamesModuleInRootfs(Process([]), _rootfs));
        // A spec that is wrong in another way is For's to refuse, with its own message.
        Assert.True(GuestPlan.NamesModuleInRootfs(Process(["x.wasm"], cwd: "relative"), _rootfs));
    }

    [Fact]
    public void An_artifacts_guest_must_get_process_args_as_given_its_env_and_the_rootfs_as_root()
    {
        var (module, config) = GuestPlan.ForArtifact(Process(["hello.wasm", "a"], "/work", "K=V"), "/bundle/layer.wasm", _rootfs, rootReadOnly: true, 1 << 20);

        Assert.Equal("/bundle/layer.wasm", module);
        Assert.Equal(["hello.wasm", "a"], config.Args);
        Assert.Equal([new("K", "V"), new("PWD", "/work")], config.Env);
        Assert.Equal((_rootfs, true, "/work", 1L << 20), (config.RootfsPath, config.RootfsReadOnly, config.Cwd, config.MemoryLimitBytes));
    }

    [Fact]
    public void An_artifact_with_a_relative_cwd_must_be_refused_as_any_process()
    {
        var e = Assert.Throws<GuestPlanException>(() => GuestPlan.ForArtifact(Process(["a"], "rel"), "/m.wasm", _rootfs, false, null));

        Assert.Equal(FailureCode.InvalidArgument, e.Code);
    }
}
