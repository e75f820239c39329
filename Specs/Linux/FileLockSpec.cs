using WasmKata.Linux;
using WasmKata.Linux.Io;
using Xunit;

namespace WasmKata.Specs.Linux;

public sealed class FileLockSpec : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_held_lock_must_keep_a_second_taker_waiting_until_released()
    {
        var path = _dir.Sub("entry.lock");
        var first = FileLock.Acquire(path, TimeSpan.Zero);
        Assert.NotNull(first);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));

        // flock works per open file, so a second open in the same process is kept out as another process would be.
        Assert.Null(FileLock.Acquire(path, TimeSpan.FromMilliseconds(50)));
        var waiter = Task.Run(() => FileLock.Acquire(path, TimeSpan.FromSeconds(30)));
        Assert.NotSame(waiter, await Task.WhenAny(waiter, Task.Delay(100)));
        first.Dispose();

        using var second = await waiter;
        Assert.NotNull(second);
    }

    [Fact]
    public void A_lock_file_that_cannot_be_made_must_throw_naming_it()
    {
        var path = _dir.Sub("missing/dir/entry.lock");

        var e = Assert.Throws<UnixException>(() => FileLock.Acquire(path, TimeSpan.Zero));

        Assert.Equal(path, e.Path);
    }
}
