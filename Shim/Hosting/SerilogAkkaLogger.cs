using Akka.Actor;
using Akka.Dispatch;
using Akka.Event;
using Serilog.Events;

namespace WasmKata.Shim.Hosting;

/// <summary>Akka's logger: hands every actor log event to Serilog, with the actor path as context.</summary>
internal sealed class SerilogAkkaLogger : ReceiveActor, IRequiresMessageQueue<ILoggerMessageQueueSemantics>
{
    public SerilogAkkaLogger()
    {
        Receive<InitializeLogger>(_ => Sender.Tell(new LoggerInitialized()));
        Receive<Error>(e => Write(LogEventLevel.Error, e));
        Receive<Warning>(e => Write(LogEventLevel.Warning, e));
        Receive<Info>(e => Write(LogEventLevel.Information, e));
        Receive<Debug>(e => Write(LogEventLevel.Debug, e));
    }

    private static void Write(LogEventLevel level, Akka.Event.LogEvent logEvent)
    {
        var logger = Serilog.Log.Logger.ForContext("Actor", logEvent.LogSource);
        if (logEvent.Message is LogMessage message)
            logger.Write(level, logEvent.Cause, message.Format, message.Parameters().ToArray());
        else
            logger.Write(level, logEvent.Cause, "{Message}", logEvent.Message);
    }
}
