using System.Net.Sockets;

namespace WasmKata.Specs.Shim;

/// <summary>A private temp directory for unix sockets, removed on dispose.</summary>
internal sealed class UnixSocketDir : IDisposable
{
    public UnixSocketDir()
    {
        // Short names: a unix socket path must stay under ~108 bytes.
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "wk-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string SocketPath(string name = "t.sock") => System.IO.Path.Combine(Path, name);

    /// <summary>Binds and listens on <paramref name="socketPath"/>, as the shim's start action hands the socket over.</summary>
    public static Socket Listen(string socketPath)
    {
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(socketPath));
        listener.Listen(64);
        return listener;
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // A socket file still in use is harmless in /tmp.
        }
    }
}
