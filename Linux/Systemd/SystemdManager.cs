using Tmds.DBus.Protocol;

namespace WasmKata.Linux.Systemd;

/// <summary>
/// A client of systemd's manager API (<c>org.freedesktop.systemd1.Manager</c>) over one D-Bus connection: the system bus
/// or systemd's private socket (peer-to-peer: no bus, no Hello, no sender names). Thread-safe.
/// </summary>
public sealed partial class SystemdManager : IDisposable
{
    private const string Service = "org.freedesktop.systemd1";
    private const string ManagerPath = "/org/freedesktop/systemd1";
    private const string ManagerInterface = "org.freedesktop.systemd1.Manager";
    private const string PropertiesInterface = "org.freedesktop.DBus.Properties";

    private readonly DBusConnection _connection;

    private SystemdManager(DBusConnection connection, string address)
    {
        _connection = connection;
        Address = address;
    }

    /// <summary>The address connected to.</summary>
    public string Address { get; }

    /// <summary>Whether the connection goes through a bus (dbus-daemon) rather than straight to systemd.</summary>
    public bool ThroughBus => _connection.UniqueName is not null;

    /// <summary>How long a job (start, stop) may take before <see cref="SystemdException"/>; 30 s by default.</summary>
    public TimeSpan JobTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long systemd may take to answer a call before <see cref="SystemdException"/>; 30 s by default.</summary>
    public TimeSpan CallTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long connecting to one address (socket, authentication, subscription) may take.</summary>
    public static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(15);

    /// <summary>
    /// Connects to the first of <paramref name="addresses"/> that answers within <see cref="ConnectTimeout"/> (default
    /// <see cref="SystemdAddresses.Defaults"/>) and subscribes to job results.
    /// </summary>
    public static async Task<SystemdManager> ConnectAsync(IEnumerable<string>? addresses = null, CancellationToken cancellationToken = default)
    {
        var failures = new List<Exception>();
        foreach (var address in addresses ?? SystemdAddresses.Defaults)
        {
            // A socket whose server never answers (say, a bus daemon that failed to start behind socket activation)
            // would otherwise hang the authentication forever.
            var connection = new DBusConnection(new PeerAwareOptions(address));
            try
            {
                await connection.ConnectAsync().AsTask().WaitAsync(ConnectTimeout, cancellationToken).ConfigureAwait(false);
                var manager = new SystemdManager(connection, address);
                await manager.WatchJobsAsync().WaitAsync(ConnectTimeout, cancellationToken).ConfigureAwait(false);
                return manager;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                connection.Dispose();
                failures.Add(new SystemdException($"{address}: {(e is TimeoutException ? $"no answer within {ConnectTimeout.TotalSeconds:0} s" : e.Message)}", null, e));
            }
        }

        throw new SystemdException("cannot reach systemd: " + string.Join("; ", failures.Select(f => f.Message)), null, new AggregateException(failures));
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _jobWatch?.Dispose();
        _connection.Dispose();
        foreach (var waiter in _waiting.Values)
            waiter.TrySetException(new ObjectDisposedException(nameof(SystemdManager)));
    }

    // MessageWriter is a struct: the body writer must work on the caller's copy.
    private delegate void BodyWriter(ref MessageWriter writer);

    private Task CallAsync(string path, string interfaceName, string member, string? signature, BodyWriter writeBody) =>
        CallAsync<bool>(path, interfaceName, member, signature, writeBody, static (_, _) => true);

    private async Task<T> CallAsync<T>(string path, string interfaceName, string member, string? signature, BodyWriter writeBody, MessageValueReader<T> readReply)
    {
        MessageBuffer message;
        var writer = _connection.GetMessageWriter();
        try
        {
            writer.WriteMethodCallHeader(destination: Service, path: path, @interface: interfaceName, member: member, signature: signature);
            writeBody(ref writer);
            message = writer.CreateMessage();
        }
        finally
        {
            writer.Dispose();
        }

        try
        {
            return await _connection.CallMethodAsync(message, readReply, null).WaitAsync(CallTimeout).ConfigureAwait(false);
        }
        catch (DBusErrorReplyException e)
        {
            throw new SystemdException($"{member} failed: {e.ErrorMessage} ({e.ErrorName})", e.ErrorName, e);
        }
        catch (TimeoutException e)
        {
            throw new SystemdException($"{member}: no answer from systemd within {CallTimeout.TotalSeconds:0} s", "timeout", e);
        }
        catch (DBusConnectionClosedException e)
        {
            throw new SystemdException($"{member}: the connection to systemd at {Address} is closed: {e.Message}", "disconnected", e);
        }
    }

    // Unix sockets are connected here, to go through PeerStream (see there); no fd passing is negotiated then, which
    // nothing here needs. Other addresses are left to Tmds.
    private sealed class PeerAwareOptions : DBusConnectionOptions
    {
        private readonly string _address;

        public PeerAwareOptions(string address)
            : base(address)
        {
            _address = address;
            AutoConnect = false;
        }

        protected override async ValueTask<SetupResult> SetupAsync(CancellationToken cancellationToken)
        {
            var stream = await PeerStream.ConnectAsync(_address, cancellationToken).ConfigureAwait(false);
            return new SetupResult(_address)
            {
                ConnectionStream = stream,
                SupportsFdPassing = false,
                UserId = Self.EffectiveUserId.ToString(System.Globalization.CultureInfo.InvariantCulture),
            };
        }
    }
}
