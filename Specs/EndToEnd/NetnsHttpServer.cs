using System.Net;
using System.Net.Sockets;
using System.Text;
using WasmKata.Linux.Namespaces;

namespace WasmKata.Specs.EndToEnd;

/// <summary>
/// A network namespace of its own (<c>ip netns add</c>, loopback up) with a tiny HTTP server on its 127.0.0.1: the
/// listening socket is made on a thread that entered the namespace, so only a client inside it can connect.
/// Answers every request with 200 and <see cref="Body"/>, and counts the requests.
/// </summary>
public sealed class NetnsHttpServer : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _serving;
    private int _requests;

    private NetnsHttpServer(string name, Socket listener, string body)
    {
        Name = name;
        _listener = listener;
        Body = body;
        _serving = Task.Run(ServeAsync);
    }

    /// <summary>The namespace's name under /var/run/netns.</summary>
    public string Name { get; }

    /// <summary>The namespace's path, as an OCI spec or <c>ctr run --with-ns network:PATH</c> names it.</summary>
    public string NamespacePath => $"/var/run/netns/{Name}";

    /// <summary>The server's URL inside the namespace.</summary>
    public string Url => $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndPoint!).Port}/greeting";

    public string Body { get; }

    public int Requests => Volatile.Read(ref _requests);

    public static async Task<NetnsHttpServer> StartAsync(string body)
    {
        var name = ContainerdFixture.NewId("wk-http");
        await IpAsync("netns", "add", name);
        try
        {
            await IpAsync("-n", name, "link", "set", "lo", "up");
            Socket? listener = null;
            Exception? failure = null;
            var thread = new Thread(() =>
            {
                try
                {
                    using var ns = SandboxNamespaces.Create([new NamespaceRequest("network", $"/var/run/netns/{name}")], null);
                    ns.Enter();
                    listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                    listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
                    listener.Listen(16);
                }
                catch (Exception e)
                {
                    failure = e;
                }
            });
            thread.Start();
            thread.Join();
            return failure is null ? new NetnsHttpServer(name, listener!, body) : throw failure;
        }
        catch
        {
            await IpAsync("netns", "delete", name);
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Dispose();
        try
        {
            await _serving;
        }
        catch (Exception)
        {
            // Ended by the dispose above.
        }
        _stop.Dispose();
        await IpAsync("netns", "delete", Name);
    }

    private async Task ServeAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            var client = await _listener.AcceptAsync(_stop.Token);
            _ = Task.Run(async () =>
            {
                using (client)
                {
                    var buffer = new byte[8192];
                    var request = new StringBuilder();
                    while (!request.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
                    {
                        var n = await client.ReceiveAsync(buffer, SocketFlags.None);
                        if (n == 0)
                            return;
                        request.Append(Encoding.ASCII.GetString(buffer, 0, n));
                    }
                    Interlocked.Increment(ref _requests);
                    var body = Encoding.UTF8.GetBytes(Body);
                    var head = $"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n";
                    await client.SendAsync(Encoding.ASCII.GetBytes(head).Concat(body).ToArray(), SocketFlags.None);
                    client.Shutdown(SocketShutdown.Send);
                }
            });
        }
    }

    private static async Task IpAsync(params string[] args)
    {
        var run = await ChildProcess.RunAsync("ip", args, TimeSpan.FromSeconds(20));
        if (run.ExitCode != 0)
            throw new InvalidOperationException($"ip {string.Join(' ', args)} failed: {run.Describe()}");
    }
}
