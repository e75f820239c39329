using Serilog;
using Serilog.Core;
using Serilog.Events;
using Serilog.Formatting;
using Serilog.Formatting.Display;

namespace WasmKata.Shim.Hosting;

/// <summary>The shim's Serilog logger: lines into containerd's <c>log</c> FIFO in the bundle, which containerd copies into its own log.</summary>
internal static class ShimLog
{
    private const string Template = "{Timestamp:yyyy-MM-ddTHH:mm:ss.fffZ} {Level:u3} wasmkata[{ProcessId}] {Message:lj}{NewLine}{Exception}";

    /// <summary>
    /// A logger that writes through whatever <see cref="Log.Logger"/> is at the time: for parts made before the log is
    /// known (a spare's engine, which lives on into the sandbox it is handed).
    /// </summary>
    public static ILogger Current { get; } = new LoggerConfiguration().MinimumLevel.Verbose().WriteTo.Sink(new CurrentLogSink()).CreateLogger();

    /// <summary>A logger writing to <paramref name="path"/> when it can be opened, and nowhere otherwise.</summary>
    public static Logger Create(string? path, bool debug)
    {
        var config = new LoggerConfiguration()
            .MinimumLevel.Is(debug ? LogEventLevel.Debug : LogEventLevel.Information)
            .Enrich.WithProperty("ProcessId", Environment.ProcessId);
        var stream = TryOpen(path);
        if (stream is not null)
            config = config.WriteTo.Sink(new LineSink(stream, new MessageTemplateTextFormatter(Template)));
        return config.CreateLogger();
    }

    /// <summary>
    /// A logger appending to the regular file <paramref name="path"/> (created 0600; emptied first once it passed
    /// <paramref name="maxBytes"/>), and nowhere when it cannot be opened.
    /// </summary>
    public static Logger CreateAppending(string path, long maxBytes)
    {
        var config = new LoggerConfiguration()
            .MinimumLevel.Information()
            .Enrich.WithProperty("ProcessId", Environment.ProcessId);
        try
        {
            var mode = File.Exists(path) && new FileInfo(path).Length > maxBytes ? FileMode.Create : FileMode.Append;
            var stream = new FileStream(path, new FileStreamOptions
            {
                Mode = mode,
                Access = FileAccess.Write,
                Share = FileShare.ReadWrite,
                BufferSize = 1,
                UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
            });
            config = config.WriteTo.Sink(new LineSink(stream, new MessageTemplateTextFormatter(Template)));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Nowhere to log: the compile still runs.
        }
        return config.CreateLogger();
    }

    private static Stream? TryOpen(string? path)
    {
        if (string.IsNullOrEmpty(path) || !File.Exists(path))
            return null;
        try
        {
            // containerd holds the FIFO open for reading and writing, so this open does not block.
            return new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite, 1);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private sealed class CurrentLogSink : ILogEventSink
    {
        public void Emit(LogEvent logEvent) => Log.Logger.Write(logEvent);
    }

    /// <summary>Writes each event as one line; a reader that went away only silences the log.</summary>
    private sealed class LineSink(Stream stream, ITextFormatter formatter) : ILogEventSink, IDisposable
    {
        private readonly Lock _lock = new();
        private readonly StreamWriter _writer = new(stream) { AutoFlush = true };
        private bool _broken;

        public void Emit(LogEvent logEvent)
        {
            lock (_lock)
            {
                if (_broken)
                    return;
                try
                {
                    formatter.Format(logEvent, _writer);
                }
                catch (IOException)
                {
                    _broken = true;
                }
            }
        }

        public void Dispose() => _writer.Dispose();
    }
}
