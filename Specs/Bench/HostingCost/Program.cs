using System.Diagnostics;
using Akka.Actor;
using Akka.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

// HostingCost plain|hosting: starts an actor system one way, asks an actor once, stops; prints the ms in Main.
var watch = Stopwatch.StartNew();
if (args is ["plain"])
{
    var system = ActorSystem.Create("cost", "akka.loglevel = WARNING");
    var echo = system.ActorOf(Props.Create(() => new Echo()), "echo");
    await echo.Ask<string>("hi");
    Console.WriteLine($"plain: answered {watch.Elapsed.TotalMilliseconds:F1} ms into Main");
    await system.Terminate();
}
else if (args is ["hosting"])
{
    var builder = Host.CreateApplicationBuilder();
    builder.Logging.ClearProviders();
    builder.Services.AddAkka("cost", (akka, _) =>
    {
        akka.AddHocon("akka.loglevel = WARNING", HoconAddMode.Prepend);
        akka.WithActors((system, registry) => registry.Register<Echo>(system.ActorOf(Props.Create(() => new Echo()), "echo")));
    });
    using var host = builder.Build();
    await host.StartAsync();
    var echo = await host.Services.GetRequiredService<ActorRegistry>().GetAsync<Echo>();
    await echo.Ask<string>("hi");
    Console.WriteLine($"hosting: answered {watch.Elapsed.TotalMilliseconds:F1} ms into Main");
    await host.StopAsync();
}
else
{
    Console.Error.WriteLine("usage: HostingCost plain|hosting");
    return 2;
}
return 0;

internal sealed class Echo : ReceiveActor
{
    public Echo() => Receive<string>(message => Sender.Tell(message));
}
