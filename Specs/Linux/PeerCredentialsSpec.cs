using System.Diagnostics;
using WasmKata.Shim.Ttrpc;
using WasmKata.Specs.Shim;
using Xunit;

namespace WasmKata.Specs.Linux;

[Trait("Requires", "root")]
public sealed class PeerCredentialsSpec : IDisposable
{
    private readonly UnixSocketDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Only_the_shims_own_user_may_talk_to_it()
    {
        var socketPath = _dir.SocketPath();
        await using var server = new TtrpcServer(UnixSocketDir.Listen(socketPath));
        _ = server.RunAsync();
        // Open the door wide on purpose: the peer-credential check must hold on its own.
        File.SetUnixFileMode(_dir.Path, (UnixFileMode)0b111_101_101);
        File.SetUnixFileMode(socketPath, (UnixFileMode)0b110_110_110);

        Assert.Equal("answered", await ProbeAsync(socketPath, asNobody: false));
        Assert.Equal("closed", await ProbeAsync(socketPath, asNobody: true));
        Assert.Equal("answered", await ProbeAsync(socketPath, asNobody: false));
    }

    /// <summary>Connects from another process, sends a request for an unknown service and says whether an answer came.</summary>
    private static async Task<string> ProbeAsync(string socketPath, bool asNobody)
    {
        const string client = """
            import socket, struct, sys
            s = socket.socket(socket.AF_UNIX); s.settimeout(10); s.connect(sys.argv[1])
            body = b"\x0a\x01x\x12\x01y"
            try:
                s.sendall(struct.pack(">IIBB", len(body), 1, 1, 0) + body)
                print("answered" if len(s.recv(64)) > 0 else "closed")
            except (ConnectionResetError, BrokenPipeError):
                print("closed")
            """;
        var start = new ProcessStartInfo(asNobody ? "setpriv" : "/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true };
        if (asNobody)
        {
            foreach (var arg in new[] { "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3" })
                start.ArgumentList.Add(arg);
        }

        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(client);
        start.ArgumentList.Add(socketPath);
        using var process = Process.Start(start)!;
        var output = await process.StandardOutput.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(20));
        await process.WaitForExitAsync();
        var error = await process.StandardError.ReadToEndAsync();
        return output.Trim() is { Length: > 0 } said ? said : "error: " + error.Trim().Split('\n')[^1];
    }
}
