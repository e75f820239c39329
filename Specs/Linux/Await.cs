namespace WasmKata.Specs.Linux;

/// <summary>Timeouts for async expectations, so a broken wait fails the spec instead of hanging it.</summary>
internal static class Await
{
    internal static readonly TimeSpan Long = TimeSpan.FromSeconds(10);

    internal static Task<T> Within<T>(this ValueTask<T> task, TimeSpan? timeout = null) => task.AsTask().WaitAsync(timeout ?? Long);

    internal static Task Within(this ValueTask task, TimeSpan? timeout = null) => task.AsTask().WaitAsync(timeout ?? Long);

    internal static Task<T> Within<T>(this Task<T> task, TimeSpan? timeout = null) => task.WaitAsync(timeout ?? Long);

    internal static Task Within(this Task task, TimeSpan? timeout = null) => task.WaitAsync(timeout ?? Long);

    /// <summary>True if <paramref name="task"/> is still running after <paramref name="period"/>.</summary>
    internal static async Task<bool> StillPendingAfter(Task task, TimeSpan period)
    {
        var winner = await Task.WhenAny(task, Task.Delay(period));
        return winner != task;
    }

    /// <summary>Reads until <paramref name="count"/> bytes arrived or EOF.</summary>
    internal static async Task<byte[]> ReadExactly(WasmKata.Linux.Io.AsyncFd fd, int count)
    {
        var buffer = new byte[count];
        var filled = 0;
        while (filled < count)
        {
            var n = await fd.ReadAsync(buffer.AsMemory(filled)).Within();
            if (n == 0)
                break;

            filled += n;
        }

        return buffer[..filled];
    }
}
