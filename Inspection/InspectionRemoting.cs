using Akka.Actor;
using Akka.Configuration;
using HoconConfig = Akka.Configuration.Config;

namespace WasmKata.Inspection;

/// <summary>
/// The Akka.Remote settings shims and the CLI share: loopback only, any free port, mutual TLS with the host's key,
/// and the inspection wire serializer. Shared with the CLI as source.
/// </summary>
internal static class InspectionRemoting
{
    /// <summary>The actor system name of every member of the inspection cluster, and of the CLI.</summary>
    public const string SystemName = "wasmkata";

    /// <summary>The Akka.Remote protocol with TLS on.</summary>
    public const string Protocol = "akka.ssl.tcp";

    /// <summary>Settings for a system with <paramref name="provider"/> ("cluster" or "remote") bound to 127.0.0.1.</summary>
    public static HoconConfig Settings(string provider, string extra = "") => ConfigurationFactory.ParseString($$"""
        akka.actor.provider = {{provider}}
        akka.remote.dot-netty.tcp {
          hostname = "127.0.0.1"
          public-hostname = "127.0.0.1"
          port = 0
          enable-ssl = true
          # A snapshot of a shim with many containers is one message.
          maximum-frame-size = 4 MiB
        }
        akka.remote.log-remote-lifecycle-events = off
        akka.log-dead-letters = off
        akka.log-dead-letters-during-shutdown = off
        akka.coordinated-shutdown.run-by-clr-shutdown-hook = off
        {{InspectionSerializer.Hocon}}
        {{extra}}
        """);

    /// <summary>The system with <paramref name="config"/> and the host's TLS identity.</summary>
    public static ActorSystem Start(HoconConfig config, InspectionKeys keys) =>
        ActorSystem.Create(SystemName, BootstrapSetup.Create().WithConfig(config).And(keys.SslSetup()));

    /// <summary>The address of the inspection system listening on <paramref name="port"/>.</summary>
    public static Address AddressOf(int port) => new(Protocol, SystemName, "127.0.0.1", port);

    /// <summary>The path of the gateway of the shim listening on <paramref name="port"/>.</summary>
    public static string GatewayPath(int port) => $"{AddressOf(port)}/user/{InspectionWire.GatewayName}";

    /// <summary>The port <paramref name="system"/> bound.</summary>
    public static int BoundPort(ActorSystem system) =>
        ((ExtendedActorSystem)system).Provider.DefaultAddress.Port ?? throw new InvalidOperationException("remoting is not bound");
}
