using Akka.Actor;
using WasmKata.Linux.Io;

namespace WasmKata.Actors.Io;

/// <summary>The pumps between a guest's stdio and containerd's FIFOs or log files.</summary>
public static class PumpProtocol
{
    /// <summary>A pump from a guest's output buffer to <paramref name="target"/> (a FIFO path or <c>file://</c> URI).</summary>
    public static Props Output(OutputBuffer buffer, string target, string stream) =>
        Akka.Actor.Props.Create(() => new OutputPumpActor(buffer, target, stream));

    /// <summary>A pump from the stdin FIFO at <paramref name="fifoPath"/> into the guest's stdin pipe.</summary>
    public static Props Input(string fifoPath, GuestInputPipe pipe, TimeSpan closeGrace) =>
        Akka.Actor.Props.Create(() => new StdinPumpActor(fifoPath, pipe, closeGrace));

    /// <summary>The name of a terminal's one output stream: the guest's stdout and stderr both go to containerd's stdout.</summary>
    public const string TerminalStream = "stdout";

    /// <summary>
    /// A terminal between containerd's FIFOs and the guest: the guest reads <paramref name="GuestStdin"/> and writes
    /// <paramref name="Output"/> (fd 1 and 2); <paramref name="Stdin"/> and <paramref name="Stdout"/> are containerd's
    /// (empty when absent). The owner of <paramref name="Pty"/> (the process actor, which resizes it) disposes it.
    /// </summary>
    public sealed record TerminalSetup(string Stdin, string Stdout, Pty Pty, GuestInputPipe GuestStdin, OutputBuffer Output, TimeSpan CloseGrace);

    /// <summary>The terminal actor; name it <see cref="TerminalStream"/>. It reports <see cref="PumpDrained"/> once the output is read.</summary>
    public static Props Terminal(TerminalSetup setup) => Akka.Actor.Props.Create(() => new TerminalActor(setup));

    /// <summary>The terminal's input held INTR or QUIT: end the guest with <paramref name="Signal"/>, as ISIG would.</summary>
    public sealed record TerminalInterrupt(int Signal);

    /// <summary>Close the guest's stdin (CloseIO, kill, exit).</summary>
    public sealed record CloseInput(bool Now);

    /// <summary>An output pump delivered everything, its reader took it all (or left), and it closed its target.</summary>
    public sealed record PumpDrained(string Stream, long Bytes);

    /// <summary>An output pump's reader went away; the rest of the stream is discarded.</summary>
    public sealed record ReaderGone(string Stream);
}
