namespace WasmKata.Linux.Processes;

/// <summary>Replaces the current process image (execv): how the shim's native front hands an action to the managed shim.</summary>
public static class Exec
{
    /// <summary>Runs <paramref name="executable"/> in this process with <paramref name="argv"/> (argv[0] included); returns only by throwing.</summary>
    public static unsafe void Replace(string executable, IReadOnlyList<string> argv)
    {
        ArgumentException.ThrowIfNullOrEmpty(executable);
        ArgumentNullException.ThrowIfNull(argv);
        using var nativeArgv = new NativeStringArray(argv);
        Interop.Execv(executable, nativeArgv.Pointer);
        UnixErrors.ThrowLast("execv", executable);
    }
}
