using System.Net.Sockets;
using Grpc.Core;
using Grpc.Net.Client;
using WasmKata.Specs.EndToEnd.Cri.V1;

namespace WasmKata.Specs.EndToEnd.Cri;

/// <summary>A CRI v1 client (what kubelet speaks) over containerd's unix socket, with deadlines on every call.</summary>
public sealed class CriClient : IDisposable
{
    private static readonly TimeSpan DefaultDeadline = TimeSpan.FromSeconds(60);
    private readonly GrpcChannel _channel;

    public CriClient(string socketPath)
    {
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (_, cancel) =>
            {
                var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), cancel);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        // The host part is never resolved: every connection goes to the socket above.
        _channel = GrpcChannel.ForAddress("http://containerd", new GrpcChannelOptions { HttpHandler = handler });
        Runtime = new RuntimeService.RuntimeServiceClient(_channel);
    }

    public RuntimeService.RuntimeServiceClient Runtime { get; }

    /// <summary>Call options with a deadline, so a hung containerd fails a spec instead of stalling the run.</summary>
    public static CallOptions Deadline(TimeSpan? within = null) =>
        new(deadline: DateTime.UtcNow + (within ?? DefaultDeadline));

    public void Dispose() => _channel.Dispose();
}
