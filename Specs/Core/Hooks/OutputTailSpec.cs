using System.Text;
using WasmKata.Core.Hooks;
using Xunit;

namespace WasmKata.Specs.Core.Hooks;

public sealed class OutputTailSpec
{
    [Fact]
    public void Tail_must_keep_everything_while_it_fits()
    {
        var tail = new OutputTail(8);
        tail.Append("abc"u8);
        tail.Append("def"u8);

        Assert.Equal("abcdef"u8.ToArray(), tail.ToArray());
        Assert.Equal("abcdef", tail.ToString());
    }

    [Fact]
    public void Tail_must_keep_the_newest_bytes_in_order_across_wraps_and_big_writes()
    {
        var tail = new OutputTail(8);
        var all = new StringBuilder();
        foreach (var piece in new[] { "12345", "6789", "ABCDEFGHIJKLMNOP", "q", "rs", "tuvwxyz" })
        {
            tail.Append(Encoding.ASCII.GetBytes(piece));
            all.Append(piece);
            var expected = all.ToString()[Math.Max(0, all.Length - 8)..];
            Assert.Equal(expected, Encoding.ASCII.GetString(tail.ToArray()));
        }

        Assert.Equal(all.Length, tail.Written);
        Assert.Equal("…stuvwxyz", tail.ToString());
    }
}
