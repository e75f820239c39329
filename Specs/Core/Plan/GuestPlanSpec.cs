using WasmKata.Core;
using WasmKata.Core.Oci;
using WasmKata.Core.Plan;
using Xunit;

namespace WasmKata.Specs.Core.Plan;

public sealed class GuestPlanSpec : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("wk-plan-").FullName;
    private readonly string _rootfs;

    public GuestPlanSpec()
    {
        _rootfs = Path.Combine(_root, "rootfs");
        Directory.CreateDirectory(Path.Combine(_rootfs, "bin"));
        File.WriteAllBytes(Path.Combine(_rootfs, "app.wasm"), [0]);
        File.WriteAllBytes(Path.Combine(_rootfs, "bin", "tool.wasm"), [0]);
        File.WriteAllText(Path.Combine(_root, "secret"), "host");
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Theory]
    [InlineData(null, "annotated", false)]
    [InlineData("true", "annotated", true)]
    [InlineData("yes", "annotated", true)]
    [InlineData("false", "annotated", false)]
    [InlineData("false", "off", false)]
    [InlineData(null, "off", false)]
    public void Outgoing_http_must_be_on_only_when_the_container_asks_and_the_configuration_allows(string? annotation, string setting, bool on)
    {
        var spec = new OciSpec { Annotations = annotation is null ? null : new Dictionary<string, string> { [GuestPlan.OutgoingHttpAnnotation] = annotation } };
        Assert.Equal(on, GuestPlan.OutgoingHttp(spec, setting));
    }

    [Theory]
    [InlineData("true", "off", FailureCode.FailedPrecondition, "configuration.toml turns it off")]
    [InlineData("on", "annotated", FailureCode.InvalidArgument, "is not one of yes, true, no, false")]
    public void Outgoing_http_asked_for_wrongly_or_against_the_configuration_must_be_refused(string annotation, string setting, FailureCode code, string reason)
    {
        var spec = new OciSpec { Annotations = new Dictionary<string, string> { [GuestPlan.OutgoingHttpAnnotation] = annotation } };
        var e = Assert.Throws<GuestPlanException>(() => GuestPlan.OutgoingHttp(spec, setting));
        Assert.Equal(code, e.Code);
        Assert.Contains(reason, e.Message);
        Assert.Contains(GuestPlan.OutgoingHttpAnnotation, e.Message);
    }

    [Fact]
    public void Dotdot_must_stop_at_the_rootfs()
    {
        Assert.Equal(Path.Combine(_rootfs, "secret"), GuestPlan.ResolveInside(_rootfs, "/../../secret"));
        Assert.Equal(Path.Combine(_rootfs, "app.wasm"), GuestPlan.ResolveInside(_rootfs, "bin/../../app.wasm"));
    }

    [Fact]
    public void Absolute_symlinks_must_resolve_inside_the_rootfs()
    {
        File.CreateSymbolicLink(Path.Combine(_rootfs, "escape"), Path.Combine(_root, "secret"));
        File.CreateSymbolicLink(Path.Combine(_rootfs, "link.wasm"), "/bin/tool.wasm");
        Assert.StartsWith(_rootfs + "/", GuestPlan.ResolveInside(_rootfs, "/escape"));
        Assert.Equal(Path.Combine(_rootfs, "bin", "tool.wasm"), GuestPlan.ResolveInside(_rootfs, "/link.wasm"));
    }

    [Fact]
    public void Relative_symlinks_must_not_climb_out()
    {
        File.CreateSymbolicLink(Path.Combine(_rootfs, "up"), "../../../..");
        Assert.Equal(_rootfs, GuestPlan.ResolveInside(_rootfs, "/up"));
    }

    [Fact]
    public void Module_must_be_found_by_path_cwd_or_PATH()
    {
        var process = new OciProcess { Args = ["/app.wasm", "x"], Env = ["A=1=2", "PATH=/bin"], Cwd = "/" };
        var (module, config) = GuestPlan.For(process, _rootfs, false, 1024);
        Assert.Equal(Path.Combine(_rootfs, "app.wasm"), module);
        Assert.Equal(["/app.wasm", "x"], config.Args);
        Assert.Equal(new KeyValuePair<string, string>("A", "1=2"), config.Env[0]);
        Assert.Equal(1024, config.MemoryLimitBytes);
        Assert.Equal(Path.Combine(_rootfs, "bin", "tool.wasm"), GuestPlan.For(process with { Args = ["tool.wasm"] }, _rootfs, false, null).ModulePath);
    }

    [Fact]
    public void Missing_module_must_fail_with_not_found_naming_it()
    {
        var e = Assert.Throws<GuestPlanException>(() => GuestPlan.For(new OciProcess { Args = ["/nope.wasm"] }, _rootfs, false, null));
        Assert.Equal(FailureCode.NotFound, e.Code);
        Assert.Contains("/nope.wasm", e.Message);
    }

    [Fact]
    public void Empty_args_must_be_refused_and_a_terminal_must_not()
    {
        Assert.Equal(FailureCode.InvalidArgument, Assert.Throws<GuestPlanException>(() => GuestPlan.For(new OciProcess(), _rootfs, false, null)).Code);
        var tty = new OciProcess { Args = ["/app.wasm"], Terminal = true };
        Assert.Equal(Path.Combine(_rootfs, "app.wasm"), GuestPlan.For(tty, _rootfs, false, null).ModulePath);
    }

    [Fact]
    public void A_non_wasm_workload_without_the_annotation_must_be_refused_clearly()
    {
        File.WriteAllText(Path.Combine(_rootfs, "sh"), "#!/bin/sh\n");
        var process = new OciProcess { Args = ["/sh"] };
        var e = Assert.Throws<GuestPlanException>(() => GuestPlan.For(process, _rootfs, false, null, markedWasm: false));
        Assert.Equal(FailureCode.InvalidArgument, e.Code);
        Assert.Contains(GuestPlan.WasmAnnotation, e.Message);
        // Marked as wasm, the module goes on to the engine, which names what is wrong with it.
        Assert.Equal(Path.Combine(_rootfs, "sh"), GuestPlan.For(process, _rootfs, false, null, markedWasm: true).ModulePath);
        File.WriteAllBytes(Path.Combine(_rootfs, "real.wasm"), [0, (byte)'a', (byte)'s', (byte)'m', 1, 0, 0, 0]);
        Assert.NotNull(GuestPlan.For(new OciProcess { Args = ["/real.wasm"] }, _rootfs, false, null, markedWasm: false).Config);
    }

    [Theory]
    [InlineData("yes", true)]
    [InlineData("true", true)]
    [InlineData("no", false)]
    public void The_wasm_annotation_must_accept_yes_and_true(string value, bool marked) =>
        Assert.Equal(marked, GuestPlan.IsMarkedWasm(new OciSpec { Annotations = new Dictionary<string, string> { [GuestPlan.WasmAnnotation] = value } }));

    [Fact]
    public void Bind_mounts_of_host_directories_must_become_preopens()
    {
        var data = Directory.CreateDirectory(Path.Combine(_root, "data")).FullName;
        var mounts = new[]
        {
            new OciMount { Destination = "/proc", Type = "proc", Source = "proc" },
            new OciMount { Destination = "/data", Type = "bind", Source = data, Options = ["rbind", "ro"] },
            new OciMount { Destination = "/rw", Type = "none", Source = data, Options = ["bind"] },
            new OciMount { Destination = "/etc/hosts", Type = "bind", Source = Path.Combine(_root, "secret"), Options = ["bind"] },
            new OciMount { Destination = "/dev/shm", Type = "bind", Source = data, Options = ["bind"] },
        };
        var preopens = GuestPlan.Preopens(mounts);
        Assert.Equal([new Preopen(data, "/data", true), new Preopen(data, "/rw", false)], preopens);
    }

    [Fact]
    public void A_bind_mount_whose_source_does_not_exist_must_be_refused_as_not_found()
    {
        var mounts = new[] { new OciMount { Destination = "/data", Type = "bind", Source = Path.Combine(_root, "gone"), Options = ["rbind"] } };

        var refused = Assert.Throws<GuestPlanException>(() => GuestPlan.Preopens(mounts));

        Assert.Equal(FailureCode.NotFound, refused.Code);
        Assert.Contains(Path.Combine(_root, "gone"), refused.Message);
    }

    [Fact]
    public void Rootfs_path_must_be_relative_to_the_bundle_unless_absolute()
    {
        Assert.Equal("/b/rootfs", GuestPlan.RootfsPath(new OciSpec { Root = new OciRoot { Path = "rootfs" } }, "/b"));
        Assert.Equal("/abs", GuestPlan.RootfsPath(new OciSpec { Root = new OciRoot { Path = "/abs" } }, "/b"));
    }

    [Fact]
    public void ConsoleSize_must_become_the_terminals_first_window_as_columns_and_rows()
    {
        var process = OciJson.ParseProcess("""{"terminal":true,"consoleSize":{"height":40,"width":132},"args":["/app.wasm"]}""");

        var (_, config) = GuestPlan.For(process, _rootfs, false, null);

        Assert.Equal(((ushort)132, (ushort)40), config.ConsoleSize);
        Assert.Null(GuestPlan.For(process with { ConsoleSize = null }, _rootfs, false, null).Config.ConsoleSize);
        Assert.Null(GuestPlan.ConsoleSize(new OciBox()));
    }

    [Fact]
    public void A_consoleSize_no_winsize_can_hold_must_be_refused_with_the_size()
    {
        var process = new OciProcess { Args = ["/app.wasm"], ConsoleSize = new OciBox { Width = 80, Height = 70000 } };

        var e = Assert.Throws<GuestPlanException>(() => GuestPlan.For(process, _rootfs, false, null));

        Assert.Equal(FailureCode.InvalidArgument, e.Code);
        Assert.Contains("80x70000", e.Message);
    }
}
