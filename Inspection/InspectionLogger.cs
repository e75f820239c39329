using Akka.Actor;
using Akka.Dispatch;
using Akka.Event;
using LogEvent = Akka.Event.LogEvent;
using LogEventLevel = Serilog.Events.LogEventLevel;

namespace WasmKata.Inspection;

/// <summary>
/// The inspection system's Akka logger: to Serilog like the shim's own, except that a peer dropping its connection
/// is debug, not a warning and an error. Every CLI run ends that way, and it must not read as trouble in the shim's log.
/// </summary>
internal sealed class InspectionLogger : ReceiveActor, IRequiresMessageQueue<ILoggerMessageQueueSemantics>
{
    public InspectionLogger()
    {
        Receive<InitializeLogger>(_ => Sender.Tell(new LoggerInitialized()));
        Receive<LogEvent>(Write);
    }

    // Akka.Remote's own exception type for it is internal: known by name.
    private const string Disassociated = "EndpointDisassociatedException";

    /// <summary>Whether <paramref name="e"/> only says that a remote peer went away.</summary>
    internal static bool IsDisassociation(LogEvent e) =>
        e.Cause?.GetType().Name == Disassociated ||
        (e.LogLevel() == Akka.Event.LogLevel.WarningLevel && e.Message?.ToString()?.Contains(Disassociated, StringComparison.Ordinal) == true);

    private static void Write(LogEvent e)
    {
        var level = IsDisassociation(e) ? LogEventLevel.Debug : e.LogLevel() switch
        {
            Akka.Event.LogLevel.ErrorLevel => LogEventLevel.Error,
            Akka.Event.LogLevel.WarningLevel => LogEventLevel.Warning,
            Akka.Event.LogLevel.InfoLevel => LogEventLevel.Information,
            _ => LogEventLevel.Debug,
        };
        var logger = Serilog.Log.Logger.ForContext("Actor", e.LogSource);
        if (e.Message is LogMessage message)
            logger.Write(level, e.Cause, message.Format, message.Parameters().ToArray());
        else
            logger.Write(level, e.Cause, "{Message}", e.Message);
    }
}
