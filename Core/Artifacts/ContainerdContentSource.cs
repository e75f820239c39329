using System.Net.Sockets;
using Grpc.Core;
using Grpc.Net.Client;
using WasmKata.Core.Protos.Containers;
using WasmKata.Core.Protos.Content;
using WasmKata.Core.Protos.Images;

namespace WasmKata.Core.Artifacts;

/// <summary>
/// containerd's containers, images and content services over gRPC on its unix socket (the shim's <c>-address</c>), in
/// the shim's namespace. One channel per container's lookup: it happens once per Create of an artifact container.
/// </summary>
public sealed class ContainerdContentSource : IContentSource, IDisposable
{
    // containerd reads the namespace of every gRPC call from this header.
    private const string NamespaceHeader = "containerd-namespace";
    private readonly GrpcChannel _channel;
    private readonly Metadata _headers;
    private readonly string _address;
    private readonly string _namespace;

    /// <param name="socketPath">containerd's gRPC socket (a <c>unix://</c> prefix is allowed).</param>
    /// <param name="ns">The containerd namespace of the container.</param>
    public ContainerdContentSource(string socketPath, string ns)
    {
        ArgumentException.ThrowIfNullOrEmpty(socketPath);
        _address = socketPath.StartsWith("unix://", StringComparison.Ordinal) ? socketPath["unix://".Length..] : socketPath;
        _namespace = ns;
        var path = _address;
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (_, cancel) =>
            {
                var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), cancel);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        // The host name is never resolved: every connection goes to the socket above. containerd serves gRPC over
        // plain HTTP/2 (no TLS), which the channel speaks for an http address.
        _channel = GrpcChannel.ForAddress("http://containerd", new GrpcChannelOptions { HttpHandler = handler, DisposeHttpClient = true });
        _headers = new Metadata { { NamespaceHeader, ns } };
    }

    public string Describe => $"containerd at {_address} (namespace {_namespace})";

    public async Task<string> ContainerImageAsync(string containerId, CancellationToken cancel)
    {
        var client = new Containers.ContainersClient(_channel);
        var reply = await client.GetAsync(new GetContainerRequest { Id = containerId }, _headers, cancellationToken: cancel);
        return reply.Container?.Image ?? "";
    }

    public async Task<BlobRef?> ImageTargetAsync(string name, CancellationToken cancel)
    {
        var client = new Images.ImagesClient(_channel);
        try
        {
            var reply = await client.GetAsync(new GetImageRequest { Name = name }, _headers, cancellationToken: cancel);
            var target = reply.Image?.Target;
            return target is null ? null : new BlobRef(target.MediaType, target.Digest, target.Size);
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.NotFound)
        {
            return null;
        }
    }

    public async Task ReadAsync(string digest, Stream destination, long maxBytes, CancellationToken cancel)
    {
        var client = new Content.ContentClient(_channel);
        using var call = client.Read(new ReadContentRequest { Digest = digest }, _headers, cancellationToken: cancel);
        long total = 0;
        await foreach (var chunk in call.ResponseStream.ReadAllAsync(cancel))
        {
            if (chunk.Offset != total)
                throw new IOException($"blob {digest}: containerd sent bytes at offset {chunk.Offset}, expected {total}");
            total += chunk.Data.Length;
            if (total > maxBytes)
                throw new ArtifactException(FailureCode.InvalidArgument, $"blob {digest} is larger than {maxBytes} bytes, the most this shim reads");
            await destination.WriteAsync(chunk.Data.Memory, cancel);
        }
    }

    public void Dispose() => _channel.Dispose();
}
