using WasmKata.Core;
using WasmKata.Core.Oci;
using WasmKata.Core.Plan;
using Xunit;

namespace WasmKata.Specs.Core.Plan;

/// <summary>A guest's working directory: found through the mounts, and told to the guest in PWD.</summary>
public sealed class GuestWorkingDirectorySpec : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("wk-cwd-").FullName;
    private readonly string _rootfs;
    private readonly string _volume;

    public GuestWorkingDirectorySpec()
    {
        _rootfs = Directory.CreateDirectory(Path.Combine(_root, "rootfs")).FullName;
        _volume = Directory.CreateDirectory(Path.Combine(_root, "volume")).FullName;
        Directory.CreateDirectory(Path.Combine(_rootfs, "work"));
        Directory.CreateDirectory(Path.Combine(_volume, "sub"));
        File.WriteAllBytes(Path.Combine(_rootfs, "app.wasm"), [0]);
        File.WriteAllBytes(Path.Combine(_volume, "tool.wasm"), [0]);
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public void A_working_directory_other_than_root_must_be_told_in_PWD_after_the_spec_env()
    {
        var config = Plan(new OciProcess { Args = ["/app.wasm"], Env = ["A=1"], Cwd = "/work/" });

        Assert.Equal("/work", config.Cwd);
        Assert.Equal([new("A", "1"), new("PWD", "/work")], config.Env);
    }

    [Fact]
    public void The_root_working_directory_must_leave_the_env_exactly_as_the_spec_says()
    {
        Assert.Equal([new("A", "1")], Plan(new OciProcess { Args = ["/app.wasm"], Env = ["A=1"], Cwd = "/" }).Env);
        Assert.Equal([new("A", "1")], Plan(new OciProcess { Args = ["/app.wasm"], Env = ["A=1"] }).Env);
    }

    [Fact]
    public void A_PWD_of_the_spec_must_be_kept()
    {
        var config = Plan(new OciProcess { Args = ["/app.wasm"], Env = ["PWD=/elsewhere"], Cwd = "/work" });

        Assert.Equal([new("PWD", "/elsewhere")], config.Env);
    }

    [Fact]
    public void A_mount_point_must_serve_as_working_directory()
    {
        var config = Plan(new OciProcess { Args = ["/app.wasm"], Cwd = "/out" }, new Preopen(_volume, "/out", false));

        Assert.Equal(_volume, GuestPlan.HostWorkingDirectory(config));
        Assert.Equal(Path.Combine(_volume, "sub"), GuestPlan.HostWorkingDirectory(config with { Cwd = "/out/sub" }));
    }

    [Fact]
    public void The_longest_mount_must_win_component_by_component()
    {
        var inner = Directory.CreateDirectory(Path.Combine(_root, "inner")).FullName;
        var mounts = new[] { new Preopen(_volume, "/out", false), new Preopen(inner, "/out/sub", true) };
        var config = Plan(new OciProcess { Args = ["/app.wasm"], Cwd = "/out/sub" }, mounts);
        Directory.CreateDirectory(Path.Combine(_rootfs, "outside"));

        Assert.Equal(inner, GuestPlan.HostWorkingDirectory(config));
        // /outside is the rootfs's, not a part of the mount at /out.
        Assert.Equal(Path.Combine(_rootfs, "outside"), GuestPlan.HostWorkingDirectory(config with { Cwd = "/outside" }));
    }

    [Fact]
    public void A_module_named_relative_to_a_mounted_working_directory_must_be_found_there()
    {
        var (module, _) = GuestPlan.For(new OciProcess { Args = ["./tool.wasm"], Cwd = "/out" }, _rootfs, false, null, [new Preopen(_volume, "/out", false)]);

        Assert.Equal(Path.Combine(_volume, "tool.wasm"), module);
    }

    [Fact]
    public void A_working_directory_that_is_nowhere_must_be_refused_as_not_found()
    {
        var config = Plan(new OciProcess { Args = ["/app.wasm"], Cwd = "/out/gone" }, new Preopen(_volume, "/out", false));

        var refused = Assert.Throws<GuestPlanException>(() => GuestPlan.HostWorkingDirectory(config));

        Assert.Equal(FailureCode.NotFound, refused.Code);
        Assert.Contains("working directory /out/gone does not exist", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Dot_dot_in_a_mount_must_not_leave_it()
    {
        var config = Plan(new OciProcess { Args = ["/app.wasm"], Cwd = "/out" }, new Preopen(_volume, "/out", false));

        // "/out/sub/../.." folds to "/", the rootfs: the guest path is normalized before any mount is chosen.
        Assert.Equal(_rootfs, GuestPlan.HostWorkingDirectory(config with { Cwd = "/out/sub/../.." }));
    }

    private GuestConfig Plan(OciProcess process, params Preopen[] mounts) => GuestPlan.For(process, _rootfs, false, null, mounts).Config;
}
