using System.Diagnostics;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using WasmKata.Core.Protos.TaskApi;
using WasmKata.Core.Spare;
using WasmKata.Linux.Processes;
using WasmKata.Shim.Ttrpc;
using WasmKata.Specs.Shim;
using Xunit;

namespace WasmKata.Specs.EndToEnd;

/// <summary>The published daemon run as a spare by hand (a fake events service for containerd), fed hand-overs directly.</summary>
[Trait("Category", "Shim")]
[Trait("Requires", "root")]
[Trait("Runtime", "wasmkata")]
public sealed class SpareProcessSpec
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_spare_must_refuse_a_bad_hand_over_with_its_reason_then_take_a_good_one_and_serve()
    {
        var suffix = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
        var root = Directory.CreateDirectory($"/tmp/wk-spare-{suffix}").FullName;
        var key = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
        var ns = $"wk-spare-{suffix}";
        var events = Path.Combine(root, "events.sock");
        await using var eventsServer = new FakeEventsServer(events);
        var info = new ProcessStartInfo(Path.Combine(ShimUnderTest.ShimDir, ContainerdFixture.ShimBinary)) { UseShellExecute = false };
        foreach (var arg in new[] { "-namespace", ns, "-address", Path.Combine(root, "c.sock"), "-publish-binary", "/bin/true", "-id", "", "spare" })
            info.ArgumentList.Add(arg);
        info.Environment["TTRPC_ADDRESS"] = events;
        info.Environment[SpareOptions.KeyVariable] = key;
        info.Environment[SpareOptions.SwitchVariable] = "30";
        info.Environment["WASMKATA_INSPECT"] = "off";
        using var spare = Process.Start(info)!;
        var socket = SpareOptions.SocketPath(key);
        try
        {
            await UntilAsync(() => UnixListener.IsServing(socket), $"the spare never listened on {socket}");
            Assert.Equal(SpareOptions.SpareName, Comm(spare.Id));

            // Junk: the first four bytes read as a length far beyond the limit.
            using (var junk = Connect(socket))
            {
                junk.Send("junk, not a hand-over"u8);
                var (answer, reason) = Answer(junk);
                Assert.Equal(HandoverMessage.Refused, answer);
                Assert.Contains("longer than the 65536 allowed", reason);
            }

            var bundle = Directory.CreateDirectory(Path.Combine(root, "bundle")).FullName;
            await File.WriteAllTextAsync(Path.Combine(bundle, "log"), "");
            var taskSocket = Path.Combine(root, "task.sock");
            using (var listener = UnixListener.Bind(taskSocket))
            using (var good = Connect(socket))
            {
                var message = new HandoverMessage(key, "sandbox", bundle, ns, Path.Combine(root, "c.sock"), events, "/bin/true", false, "");
                FdPassing.Send(good, message.Encode(), listener.SafeHandle);
                var (answer, reason) = Answer(good);
                Assert.True(answer == HandoverMessage.Taken && reason == ((char)HandoverMessage.Adopted).ToString(), $"answer {(char)answer}{reason}");
            }

            Assert.Equal(SpareOptions.DaemonName, Comm(spare.Id));
            Assert.False(File.Exists(socket), "the adopted spare still offers itself");
            await using var client = await TtrpcClient.ConnectAsync(taskSocket).WaitAsync(Patience);
            var connected = await client.CallAsync<ConnectRequest, ConnectResponse>(ShimUnderTest.Service, "Connect", new ConnectRequest { Id = "sandbox" }).WaitAsync(Patience);
            Assert.Equal(spare.Id, (int)connected.ShimPid);
            await client.CallAsync<ShutdownRequest, Google.Protobuf.WellKnownTypes.Empty>(ShimUnderTest.Service, "Shutdown", new ShutdownRequest { Id = "sandbox" }).WaitAsync(Patience);
            await spare.WaitForExitAsync().WaitAsync(Patience);
            Assert.Equal(0, spare.ExitCode);
        }
        finally
        {
            if (!spare.HasExited)
                spare.Kill();
            File.Delete(socket);
            Directory.Delete(root, recursive: true);
        }
    }

    private static Socket Connect(string path)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        socket.Connect(new UnixDomainSocketEndPoint(path));
        socket.ReceiveTimeout = (int)Patience.TotalMilliseconds;
        return socket;
    }

    /// <summary>The first byte the spare sends and the text after it, up to its end of the conversation.</summary>
    private static (byte First, string Text) Answer(Socket socket)
    {
        var buffer = new byte[4096];
        var length = 0;
        int read;
        while ((read = socket.Receive(buffer.AsSpan(length))) > 0)
        {
            length += read;
            if (length >= 2 && buffer[0] == HandoverMessage.Taken && buffer[length - 1] is HandoverMessage.Adopted or HandoverMessage.Refused)
                break;
        }

        Assert.True(length > 0, "the spare closed without an answer");
        return (buffer[0], Encoding.UTF8.GetString(buffer, 1, length - 1));
    }

    private static async Task UntilAsync(Func<bool> condition, string failure)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, failure);
            await Task.Delay(50);
        }
    }

    private static string Comm(int pid) => File.ReadAllText($"/proc/{pid}/comm").Trim();
}
