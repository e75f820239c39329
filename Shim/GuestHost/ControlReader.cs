using System.Globalization;
using Microsoft.Win32.SafeHandles;
using WasmKata.Core;
using WasmKata.Core.Plan;
using WasmKata.Engine;

namespace WasmKata.Shim.GuestHost;

/// <summary>
/// The daemon's commands to a guest host, one per line on the control fd: <c>start</c>, <c>kill N</c>,
/// <c>limits MEMORY|none QUOTA:PERIOD|none</c>, <c>stats</c> (answered by a <c>stats BYTES</c> report line). End of file means the daemon is gone: the guest is killed (SIGKILL's
/// status), so a guest host never outlives the daemon that would report its exit.
/// </summary>
internal sealed class ControlReader
{
    private readonly ManualResetEventSlim _started = new();
    private readonly Guest _guest;
    private readonly Termination _termination;
    private readonly ReportWriter _report;

    private ControlReader(Guest guest, Termination termination, ReportWriter report)
    {
        _guest = guest;
        _termination = termination;
        _report = report;
    }

    public static ControlReader Start(int fd, Guest guest, Termination termination, ReportWriter report)
    {
        var reader = new ControlReader(guest, termination, report);
        var thread = new Thread(() => reader.Loop(fd), 256 * 1024) { IsBackground = true, Name = "control" };
        thread.Start();
        return reader;
    }

    /// <summary>Blocks until <c>start</c> (or a kill, or the daemon's end) came.</summary>
    public void WaitForStart() => _started.Wait();

    private void Loop(int fd)
    {
        using var stream = new FileStream(new SafeFileHandle(fd, ownsHandle: true), FileAccess.Read, bufferSize: 0);
        using var lines = new StreamReader(stream);
        try
        {
            while (lines.ReadLine() is { } line)
                Handle(line);
        }
        catch (IOException)
        {
            // Treated as the daemon's end, below.
        }
        _termination.Request(SignalNumber.Kill);
        _started.Set();
    }

    private void Handle(string line)
    {
        var words = line.Split(' ');
        switch (words[0])
        {
            case "start":
                _started.Set();
                break;
            case "kill" when words.Length == 2 && int.TryParse(words[1], NumberStyles.None, CultureInfo.InvariantCulture, out var signal):
                _termination.Request(signal);
                _started.Set();
                break;
            case "stats" when words.Length == 1:
                // The guest's linear memory, as a guest thread's stats give it (the engine samples it at its ticks).
                _report.Line($"stats {_guest.MemoryBytes.ToString(CultureInfo.InvariantCulture)}");
                break;
            case "limits" when words.Length == 3:
                _guest.UpdateMemoryLimit(words[1] == "none" ? null : long.Parse(words[1], CultureInfo.InvariantCulture));
                _guest.UpdateCpu(Cpu(words[2]));
                break;
            default:
                Console.Error.WriteLine($"containerd-shim-wasmkata-v2 guest-host: unknown command \"{line}\"");
                break;
        }
    }

    private static GuestCpuLimit? Cpu(string value)
    {
        if (value == "none")
            return null;
        var parts = value.Split(':');
        return new GuestCpuLimit(long.Parse(parts[0], CultureInfo.InvariantCulture), long.Parse(parts[1], CultureInfo.InvariantCulture));
    }
}
