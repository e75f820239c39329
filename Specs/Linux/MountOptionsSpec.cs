using WasmKata.Linux.Mounts;
using Xunit;
using static WasmKata.Linux.Interop;

namespace WasmKata.Specs.Linux;

public sealed class MountOptionsSpec
{
    [Fact]
    public void Rbind_rw_must_become_a_recursive_writable_bind_without_data()
    {
        var options = MountOptions.Parse(["rbind", "rw"]);
        Assert.Equal(MS_BIND | MS_REC, options.Flags);
        Assert.Equal(string.Empty, options.Data);
        Assert.True(options.IsBind);
    }

    [Fact]
    public void Later_options_must_override_earlier_ones()
    {
        Assert.Equal(MS_BIND, MountOptions.Parse(["bind", "ro", "rw"]).Flags);
        Assert.Equal(MS_RDONLY, MountOptions.Parse(["rw", "ro"]).Flags);
        Assert.Equal(0UL, MountOptions.Parse(["nosuid", "suid", "nodev", "dev", "noexec", "exec"]).Flags);
    }

    [Fact]
    public void Flag_options_must_set_the_matching_bits_and_defaults_must_be_a_no_op()
    {
        var options = MountOptions.Parse(["defaults", "nosuid", "nodev", "noexec", "noatime", "nodiratime", "sync", "dirsync", "mand", "remount", "relatime", "strictatime"]);
        Assert.Equal(
            MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | MS_SYNCHRONOUS | MS_DIRSYNC | MS_MANDLOCK | MS_REMOUNT
                | MS_RELATIME | MS_STRICTATIME,
            options.Flags);
        Assert.Equal(string.Empty, options.Data);
    }

    [Fact]
    public void Overlay_options_must_be_passed_as_data_in_order()
    {
        var options = MountOptions.Parse(["index=off", "workdir=/w", "upperdir=/u", "lowerdir=/a:/b", "ro"]);
        Assert.Equal(MS_RDONLY, options.Flags);
        Assert.Equal("index=off,workdir=/w,upperdir=/u,lowerdir=/a:/b", options.Data);
        Assert.False(options.IsBind);
    }

    [Fact]
    public void Loop_must_be_recognised_and_unknown_options_kept_verbatim()
    {
        var options = MountOptions.Parse(["loop", "context=\"system_u:object_r:container_file_t:s0\"", "rprivate"]);
        Assert.True(options.Loop);
        Assert.Equal("context=\"system_u:object_r:container_file_t:s0\",rprivate", options.Data);
    }
}
