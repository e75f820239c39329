using WasmKata.Linux.Mounts;
using Xunit;

namespace WasmKata.Specs.Linux;

public sealed class MountInfoSpec
{
    [Fact]
    public void Mount_points_must_be_read_from_field_five()
    {
        const string table = "22 1 0:21 / /proc rw,nosuid - proc proc rw\n"
            + "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n";
        Assert.Equal(["/proc", "/mnt2"], MountInfo.ParseMountPoints(table));
    }

    [Fact]
    public void Octal_escapes_must_be_decoded()
    {
        const string table = "40 27 0:39 / /tmp/with\\040space\\011tab\\134slash\\012nl rw - tmpfs tmpfs rw\n";
        Assert.Equal("/tmp/with space\ttab\\slash\nnl", Assert.Single(MountInfo.ParseMountPoints(table)));
    }

    [Fact]
    public void Escaped_bytes_must_combine_into_utf8_and_plain_unicode_must_pass_through()
    {
        Assert.Equal("/mnt/é", MountInfo.Unescape("/mnt/\\303\\251"));
        Assert.Equal("/mnt/日本 x", MountInfo.Unescape("/mnt/日本\\040x"));
        Assert.Equal("/mnt/a\\b", MountInfo.Unescape("/mnt/a\\b"));
    }

    [Fact]
    public void The_live_table_must_contain_the_root_mount()
    {
        Assert.Contains("/", MountInfo.ReadMountPoints());
    }
}
