namespace WasmKata.Core;

/// <summary>
/// The exit statuses the shim gives a guest that did not choose its own, as a shell and runc report them. SECURITY.md
/// shows the same table for operators.
/// </summary>
public static class ExitStatus
{
    /// <summary>Added to a signal's number for a guest that a signal ended.</summary>
    public const int SignalBase = 128;

    /// <summary>A trap (unreachable, out-of-bounds access, stack exhaustion): SIGABRT's status, as a crashed process.</summary>
    public const int Trap = SignalBase + SignalNumber.Abrt;

    /// <summary>SIGKILL: a kill, a guest of a shim that was killed, an unknown end reported by the delete action.</summary>
    public const int Killed = SignalBase + SignalNumber.Kill;

    /// <summary>The shim failed the guest (an actor crashed, the shim went down with it still running).</summary>
    public const int Internal = 255;

    /// <summary>The status of a guest that <paramref name="signal"/> ended.</summary>
    public static int Signalled(int signal) => SignalBase + signal;
}

/// <summary>The Linux signal numbers the shim acts on (x86-64 and arm64 agree on these).</summary>
public static class SignalNumber
{
    public const int Int = 2;
    public const int Quit = 3;
    public const int Abrt = 6;
    public const int Kill = 9;
    public const int Term = 15;
    public const int Chld = 17;
    public const int Cont = 18;
    public const int Stop = 19;
    public const int Tstp = 20;
    public const int Ttin = 21;
    public const int Ttou = 22;
    public const int Urg = 23;
    public const int Winch = 28;
    public const int Sys = 31;

    /// <summary>The highest real-time signal (SIGRTMAX); containerd may send any of 0..Max.</summary>
    public const int Max = 64;
}
