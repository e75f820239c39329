using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Google.Protobuf;
using WasmKata.Core.Protos.TaskApi;
using WasmKata.Shim.Ttrpc;
using WasmKata.Specs.Shim;
using Xunit;

namespace WasmKata.Specs.EndToEnd;

/// <summary>
/// The published shim binary started the way containerd starts it (the <c>start</c> action in a bundle, with
/// TTRPC_ADDRESS pointing at a fake events service), then driven over its socket with the ttrpc client: requests
/// containerd itself would never send can be sent. Disposing shuts it down (Shutdown, then SIGKILL) and cleans up.
/// </summary>
internal sealed class ShimUnderTest : IAsyncDisposable
{
    public const string StateRoot = "/run/wasmkata";
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private readonly List<TtrpcClient> _clients = [];
    private readonly FakeEventsServer _events;

    private ShimUnderTest(string root, string ns, string id, FakeEventsServer events)
    {
        Root = root;
        Namespace = ns;
        Id = id;
        _events = events;
    }

    /// <summary>A private directory for bundles, outputs and the events socket.</summary>
    public string Root { get; }

    public string Namespace { get; }

    /// <summary>The id the shim was started for (its sandbox).</summary>
    public string Id { get; }

    public string SocketPath { get; private set; } = "";

    public int Pid { get; private set; }

    public TtrpcClient Client { get; private set; } = null!;

    /// <summary>Task events the shim forwarded, in order.</summary>
    public System.Collections.Concurrent.ConcurrentQueue<Forwarded> Events => _events.Received;

    /// <summary>This shim's state directory: /run/wasmkata/NAMESPACE.</summary>
    public string StateDir => Path.Combine(StateRoot, Namespace);

    public static string ShimDir => new ContainerdFixture().ShimDir;

    public static string GuestsDir => new ContainerdFixture().GuestsDir;

    /// <summary>Runs the start action for sandbox <paramref name="id"/> and connects to the daemon it leaves serving.</summary>
    public static async Task<ShimUnderTest> StartAsync(string id, bool inspection = false)
    {
        var suffix = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
        var root = Directory.CreateDirectory($"/tmp/wk-shim-{suffix}").FullName;
        var events = new FakeEventsServer(Path.Combine(root, "events.sock"));
        var shim = new ShimUnderTest(root, $"wk-shim-{suffix}", id, events);
        try
        {
            await shim.RunStartAsync(shim.NewBundle(id, new JsonObject()), inspection);
            return shim;
        }
        catch
        {
            await shim.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Runs the start action again for this sandbox, as containerd does for a reused id, and connects to the daemon whose
    /// address it prints (<see cref="Pid"/> is then that daemon's).
    /// </summary>
    public Task RestartAsync(bool inspection = false) => RunStartAsync(Path.Combine(Root, "bundles", Id), inspection);

    private async Task RunStartAsync(string bundle, bool inspection)
    {
        var info = new ProcessStartInfo(Path.Combine(ShimDir, ContainerdFixture.ShimBinary))
        {
            WorkingDirectory = bundle,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { "-namespace", Namespace, "-address", Path.Combine(Root, "containerd.sock"), "-publish-binary", "/bin/true", "-id", Id, "start" })
            info.ArgumentList.Add(arg);
        info.Environment["TTRPC_ADDRESS"] = Path.Combine(Root, "events.sock");
        info.Environment["WASMKATA_INSPECT"] = inspection ? "on" : "off";
        // Each shim here has a namespace of its own, so no start of this key ever comes to adopt a spare.
        info.Environment["WASMKATA_SPARE_SECONDS"] = "0";
        using var start = Process.Start(info)!;
        start.StandardInput.Close();
        var address = await start.StandardOutput.ReadToEndAsync().WaitAsync(Patience);
        var errors = await start.StandardError.ReadToEndAsync().WaitAsync(Patience);
        await start.WaitForExitAsync().WaitAsync(Patience);
        Assert.True(start.ExitCode == 0 && address.StartsWith("unix://", StringComparison.Ordinal),
            $"start exited {start.ExitCode}: {address} {errors}");
        SocketPath = address["unix://".Length..];
        Client = await ConnectAsync();
        var connected = await Client.CallAsync<ConnectRequest, ConnectResponse>(Service, "Connect", new ConnectRequest { Id = Id }).WaitAsync(Patience);
        Pid = (int)connected.ShimPid;
    }

    public const string Service = "containerd.task.v2.Task";

    /// <summary>containerd's events socket goes away (as when containerd dies).</summary>
    public ValueTask StopEventsAsync() => _events.DisposeAsync();

    /// <summary>Closes every connection this harness opened (as containerd's going away does).</summary>
    public async Task CloseClientsAsync()
    {
        List<TtrpcClient> clients;
        lock (_clients)
        {
            clients = [.. _clients];
            _clients.Clear();
        }

        foreach (var client in clients)
            await client.DisposeAsync();
    }

    /// <summary>A new connection, as containerd opens one per task.</summary>
    public async Task<TtrpcClient> ConnectAsync()
    {
        var client = await TtrpcClient.ConnectAsync(SocketPath).WaitAsync(Patience);
        lock (_clients)
            _clients.Add(client);
        return client;
    }

    /// <summary>Calls <paramref name="method"/>; a ttrpc error comes back as <see cref="TtrpcException"/>.</summary>
    public Task<TResponse> CallAsync<TRequest, TResponse>(string method, TRequest request, TtrpcClient? client = null)
        where TRequest : IMessage
        where TResponse : IMessage<TResponse>, new() =>
        (client ?? Client).CallAsync<TRequest, TResponse>(Service, method, request).WaitAsync(Patience);

    /// <summary>
    /// A bundle as containerd lays it out: config.json (a minimal spec, changed by <paramref name="spec"/>'s keys), an
    /// empty rootfs and a log file. Returns its path.
    /// </summary>
    public string NewBundle(string id, JsonObject spec, IReadOnlyDictionary<string, string>? guests = null)
    {
        var bundle = Directory.CreateDirectory(Path.Combine(Root, "bundles", id)).FullName;
        var rootfs = Directory.CreateDirectory(Path.Combine(bundle, "rootfs")).FullName;
        File.WriteAllText(Path.Combine(bundle, "log"), "");
        var config = new JsonObject
        {
            ["ociVersion"] = "1.0.2",
            ["process"] = new JsonObject { ["args"] = new JsonArray("/app.wasm"), ["env"] = new JsonArray(), ["cwd"] = "/" },
            ["root"] = new JsonObject { ["path"] = "rootfs" },
        };
        foreach (var (key, value) in spec)
            config[key] = value?.DeepClone();
        File.WriteAllText(Path.Combine(bundle, "config.json"), config.ToJsonString());
        foreach (var (path, guest) in guests ?? new Dictionary<string, string>())
        {
            var target = Path.Combine(rootfs, path.TrimStart('/'));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(Path.Combine(GuestsDir, guest + ".wasm"), target);
        }

        return bundle;
    }

    /// <summary>Where a container's stdout goes (a file:// URI target) and where to read it.</summary>
    public string OutputPath(string id) => Path.Combine(Root, "out", id + ".stdout");

    /// <summary>A Create request with stdout to <see cref="OutputPath"/>.</summary>
    public CreateTaskRequest CreateRequest(string id, string bundle)
    {
        Directory.CreateDirectory(Path.Combine(Root, "out"));
        return new CreateTaskRequest { Id = id, Bundle = bundle, Stdout = "file://" + OutputPath(id) };
    }

    /// <summary>
    /// Count of /proc/PID/fd entries, leaving out the runtime's own code files (.dll, .so): .NET keeps every assembly it
    /// loads open for good, and loads them lazily, so they grow with the code paths used, not with what is leaked.
    /// </summary>
    /// TCP sockets are left out too: they belong to the inspection cluster, which other shims on the host join and leave.
    public int FdCount => CountedFds().Count();

    private IEnumerable<string> CountedFds()
    {
        var tcp = TcpSocketInodes();
        foreach (var fd in Directory.GetFileSystemEntries($"/proc/{Pid}/fd"))
        {
            string target;
            try
            {
                target = new FileInfo(fd).LinkTarget ?? "";
            }
            catch (IOException)
            {
                continue;
            }

            if (target.EndsWith(".dll", StringComparison.Ordinal) || target.EndsWith(".so", StringComparison.Ordinal) ||
                (target.StartsWith("socket:[", StringComparison.Ordinal) && tcp.Contains(target["socket:[".Length..^1])))
            {
                continue;
            }

            yield return target;
        }
    }

    private HashSet<string> TcpSocketInodes()
    {
        var inodes = new HashSet<string>(StringComparer.Ordinal);
        foreach (var table in new[] { "tcp", "tcp6" })
        {
            try
            {
                foreach (var line in File.ReadLines($"/proc/{Pid}/net/{table}").Skip(1))
                {
                    var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    if (fields.Length > 9)
                        inodes.Add(fields[9]);
                }
            }
            catch (IOException)
            {
                // No such table.
            }
        }

        return inodes;
    }

    /// <summary>What the counted fds point at, by kind (socket, pipe, anon_inode:[eventfd], a path), with counts.</summary>
    public IReadOnlyDictionary<string, int> FdKinds()
    {
        var kinds = new SortedDictionary<string, int>(StringComparer.Ordinal);
        foreach (var target in CountedFds())
        {
            var kind = target.StartsWith('/') ? target : target.Contains("anon_inode", StringComparison.Ordinal) ? target : target.Split(':')[0];
            kinds[kind] = kinds.GetValueOrDefault(kind) + 1;
        }

        return kinds;
    }

    /// <summary>Names of the shim's threads (/proc/PID/task/*/comm).</summary>
    public IReadOnlyList<string> ThreadNames =>
        Directory.GetDirectories($"/proc/{Pid}/task").Select(t =>
        {
            try
            {
                return File.ReadAllText(Path.Combine(t, "comm")).Trim();
            }
            catch (IOException)
            {
                return "";
            }
        }).Where(n => n.Length > 0).ToList();

    /// <summary>Creates and starts container <paramref name="id"/> running the sleep guest for an hour; returns its bundle once the guest sleeps.</summary>
    public async Task<string> StartSleeperAsync(string id)
    {
        var bundle = NewBundle(id, new JsonObject
        {
            ["process"] = new JsonObject { ["args"] = new JsonArray("/app.wasm", "3600"), ["cwd"] = "/" },
        }, new Dictionary<string, string> { ["/app.wasm"] = "sleep" });
        // The harness's first bundle is the daemon's own (its cwd); a container may reuse it under the same id.
        await CallAsync<CreateTaskRequest, CreateTaskResponse>("Create", CreateRequest(id, bundle));
        await CallAsync<StartRequest, StartResponse>("Start", new StartRequest { Id = id });
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!(File.Exists(OutputPath(id)) && (await File.ReadAllTextAsync(OutputPath(id))).Contains("sleeping", StringComparison.Ordinal)))
        {
            Assert.True(DateTime.UtcNow < deadline, "the guest did not start sleeping");
            await Task.Delay(20);
        }

        return bundle;
    }

    /// <summary>VmRSS in KiB.</summary>
    public long RssKib => long.Parse(File.ReadLines($"/proc/{Pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal))
        .Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]);

    public bool IsRunning => ContainerdFixture.IsRunning(Pid);

    public async ValueTask DisposeAsync()
    {
        foreach (var client in _clients)
            await client.DisposeAsync();
        if (Pid > 0 && IsRunning)
        {
            try
            {
                await using var last = await TtrpcClient.ConnectAsync(SocketPath).WaitAsync(TimeSpan.FromSeconds(5));
                await last.CallAsync<ShutdownRequest, Google.Protobuf.WellKnownTypes.Empty>(Service, "Shutdown", new ShutdownRequest { Id = Id })
                    .WaitAsync(TimeSpan.FromSeconds(5));
            }
            catch (Exception e) when (e is IOException or TimeoutException or TtrpcException or System.Net.Sockets.SocketException)
            {
                // Killed below.
            }

            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
            while (IsRunning && DateTime.UtcNow < deadline)
                await Task.Delay(50);
            if (IsRunning)
                WasmKata.Linux.Processes.Signals.TrySend(Pid, 9);
        }

        await _events.DisposeAsync();
        foreach (var mount in ContainerdFixture.MountsUnder(Root).OrderByDescending(m => m.Length))
            WasmKata.Linux.Mounts.Mounts.UnmountAll(mount);
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
            // A socket still in use; /tmp is cleaned anyway.
        }

        if (Directory.Exists(StateDir) && !Directory.EnumerateFileSystemEntries(StateDir).Any())
            Directory.Delete(StateDir);
    }
}
