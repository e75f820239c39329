using WasmKata.Linux.Confinement;
using WasmKata.Shim.GuestHost;
using Xunit;

namespace WasmKata.Specs.Shim;

public sealed class GuestHostArgsSpec
{
    private static readonly string[] Minimal = ["-uid", "2100000", "-gid", "2100001", "-rootfs-fd", "3", "-module-fd", "4", "-report-fd", "5"];

    [Fact]
    public void Parse_must_read_ids_fds_env_and_the_guest_arguments_after_the_separator()
    {
        var args = GuestHostArgs.Parse([.. Minimal, "-env", "A=b=c", "-stdin", "-memory-limit", "65536", "-seccomp", "kill", "--", "app", "-uid", "x"]);
        Assert.Equal(2100000u, args.Uid);
        Assert.Equal(2100001u, args.Gid);
        Assert.Equal((3, 4, 5), (args.RootfsFd, args.ModuleFd, args.ReportFd));
        Assert.Equal([new KeyValuePair<string, string>("A", "b=c")], args.Env);
        Assert.True(args.Stdin);
        Assert.Equal(65536, args.MemoryLimitBytes);
        Assert.Equal(SeccompDefault.KillProcess, args.Seccomp);
        Assert.Equal(["app", "-uid", "x"], args.GuestArgs);
        Assert.False(args.Stage2);
    }

    [Fact]
    public void Stage_two_arguments_must_parse_back_to_the_same_request()
    {
        var first = GuestHostArgs.Parse([.. Minimal, "-env", "K=V", "-rootfs-readonly", "-stdin", "-memory-limit", "1024", "--", "app", "one"]);
        var argv = first.ToStage2Args("/bin/shim");
        Assert.Equal(["/bin/shim", "guest-host", "-stage2"], argv.Take(3));
        var second = GuestHostArgs.Parse(argv.Skip(2).ToArray());
        Assert.True(second.Stage2);
        Assert.Equal(first with { Stage2 = true, Env = second.Env, GuestArgs = second.GuestArgs, NamespaceFds = second.NamespaceFds, Preopens = second.Preopens }, second);
        Assert.Equal(first.Env, second.Env);
        Assert.Equal(first.GuestArgs, second.GuestArgs);
    }

    [Fact]
    public void A_daemons_request_must_reach_stage_two_but_for_the_namespaces_entered_in_stage_one()
    {
        var first = GuestHostArgs.Parse([
            .. Minimal, "-control-fd", "6", "-stdout-fd", "7", "-stderr-fd", "8", "-cwd", "/work", "-ns-fd", "9", "-ns-fd", "10",
            "-preopen", "11:ro:/data", "-preopen", "12:rw:/scratch dir", "-cpu", "50000:100000", "--", "app"]);
        var second = GuestHostArgs.Parse(first.ToStage2Args("/bin/shim").Skip(2).ToArray());

        Assert.Equal([9, 10], first.NamespaceFds);
        Assert.Empty(second.NamespaceFds);
        Assert.Equal([new HandedPreopen(11, true, "/data"), new HandedPreopen(12, false, "/scratch dir")], second.Preopens);
        Assert.Equal(first with { Stage2 = true, Env = second.Env, GuestArgs = second.GuestArgs, NamespaceFds = second.NamespaceFds, Preopens = second.Preopens }, second);
        Assert.Equal((6, 7, 8, "/work", 50_000L, 100_000L), (second.ControlFd, second.StdoutFd, second.StderrFd, second.Cwd, second.CpuQuotaUs, second.CpuPeriodUs));
    }

    [Fact]
    public void The_compiled_entry_the_engine_settings_and_http_must_reach_stage_two()
    {
        var digest = new string('a', 64);
        var first = GuestHostArgs.Parse([.. Minimal, "-compiled", $"13:{digest}", "-pooling", "1000:4294967296", "-http", "--", "app"]);
        var second = GuestHostArgs.Parse(first.ToStage2Args("/bin/shim").Skip(2).ToArray());

        Assert.Equal((13, digest, (1000, 4294967296L), true), (second.CompiledFd, second.CompiledDigest, second.Pooling!.Value, second.Http));
        var none = GuestHostArgs.Parse([.. Minimal, "--", "app"]);
        Assert.Equal((-1, null, false), (none.CompiledFd, none.Pooling, none.Http));
    }

    [Theory]
    [InlineData("is not FD:SHA256", "-compiled", "13")]
    [InlineData("is not FD:SHA256", "-compiled", "13:abc")]
    [InlineData("not a descriptor above 2", "-compiled", "1:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")]
    [InlineData("is not SLOTS:MAX_MEMORY_BYTES", "-pooling", "1000")]
    [InlineData("neither 0", "-uid", "0")]
    [InlineData("is not a number", "-gid", "-1")]
    [InlineData("not a descriptor above 2", "-module-fd", "2")]
    [InlineData("is not KEY=VALUE", "-env", "=x")]
    [InlineData("use errno, kill or log", "-seccomp", "trap")]
    [InlineData("unknown guest-host flag", "-rootfs", "/")]
    [InlineData("is not FD:ro|rw:/guest/path", "-preopen", "7:rx:/data")]
    [InlineData("is not FD:ro|rw:/guest/path", "-preopen", "7:ro:data")]
    [InlineData("is not QUOTA_US:PERIOD_US", "-cpu", "50000")]
    public void Parse_must_refuse_bad_flags_with_a_reason(string reason, string flag, string value)
    {
        var e = Assert.Throws<ArgumentException>(() => GuestHostArgs.Parse([.. Minimal, flag, value, "--", "app"]));
        Assert.Contains(reason, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_must_want_a_guest_name_after_the_separator()
    {
        Assert.Contains("after --", Assert.Throws<ArgumentException>(() => GuestHostArgs.Parse([.. Minimal, "--"])).Message, StringComparison.Ordinal);
        Assert.Contains("after --", Assert.Throws<ArgumentException>(() => GuestHostArgs.Parse(Minimal)).Message, StringComparison.Ordinal);
    }
}
