using WasmKata.Core.Oci;
using WasmKata.Linux.Processes;

namespace WasmKata.Core.Hooks;

/// <summary>An OCI hook that could not start, exited non-zero, was killed by a signal or ran past its timeout.</summary>
public sealed class HookFailedException : Exception
{
    internal HookFailedException(HookKind kind, int index, string path, string what, ChildExit? exit, bool timedOut,
        string stdoutTail, string stderrTail, Exception? inner = null)
        : base(Describe(kind, index, path, what, stdoutTail, stderrTail), inner)
    {
        Kind = kind;
        Index = index;
        HookPath = path;
        Exit = exit;
        TimedOut = timedOut;
        StdoutTail = stdoutTail;
        StderrTail = stderrTail;
    }

    /// <summary>Which lifecycle point the hook belongs to.</summary>
    public HookKind Kind { get; }

    /// <summary>Position of the hook in its kind's list.</summary>
    public int Index { get; }

    /// <summary>The hook's program.</summary>
    public string HookPath { get; }

    /// <summary>How the hook ended; null when it never started.</summary>
    public ChildExit? Exit { get; }

    /// <summary>Whether it was killed for running past its timeout.</summary>
    public bool TimedOut { get; }

    /// <summary>The last few KiB the hook wrote to stdout.</summary>
    public string StdoutTail { get; }

    /// <summary>The last few KiB the hook wrote to stderr.</summary>
    public string StderrTail { get; }

    /// <summary>"hook createRuntime[1] /usr/bin/x" for messages.</summary>
    internal static string Name(HookKind kind, int index, string path) => $"hook {kind.JsonName()}[{index}] {path}";

    private static string Describe(HookKind kind, int index, string path, string what, string stdoutTail, string stderrTail)
    {
        var message = $"{Name(kind, index, path)} {what}";
        if (stderrTail.Length > 0)
        {
            message += $"; stderr: {stderrTail}";
        }
        else if (stdoutTail.Length > 0)
        {
            // Hooks that report on stdout only still deserve to be heard.
            message += $"; stdout: {stdoutTail}";
        }

        return message;
    }
}
