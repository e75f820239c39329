using System.Runtime.ExceptionServices;

namespace WasmKata.Specs.Linux.Confinement;

/// <summary>
/// Runs a body on a fresh OS thread that ends with it. Capabilities, no_new_privs, Landlock, a thread-only seccomp
/// filter and unshare(CLONE_NEWNS) all stay with that thread: the spec process itself is never confined.
/// </summary>
internal static class OwnThread
{
    internal static T Run<T>(Func<T> body)
    {
        T result = default!;
        ExceptionDispatchInfo? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                result = body();
            }
            catch (Exception e)
            {
                failure = ExceptionDispatchInfo.Capture(e);
            }
        });
        thread.Start();
        if (!thread.Join(TimeSpan.FromSeconds(30)))
            throw new TimeoutException("the confined thread did not finish");
        failure?.Throw();
        return result;
    }

    /// <summary>The calling thread's own status file (not the thread group leader's).</summary>
    internal static string StatusPath => "/proc/thread-self/status";
}
