using System.Collections.Concurrent;
using Tmds.DBus.Protocol;

namespace WasmKata.Linux.Systemd;

/// <summary>
/// A client of systemd's manager API (<c>org.freedesktop.systemd1.Manager</c>) over one D-Bus connection: the system bus
/// or systemd's private socket (peer-to-peer: no bus, no Hello, no sender names). Thread-safe.
/// </summary>
public sealed class SystemdManager : IDisposable
{
    private const string Service = "org.freedesktop.systemd1";
    private const string ManagerPath = "/org/freedesktop/systemd1";
    private const string ManagerInterface = "org.freedesktop.systemd1.Manager";
    private const string PropertiesInterface = "org.freedesktop.DBus.Properties";
    private const int FinishedJobsKept = 512;

    private readonly DBusConnection _connection;
    private readonly ConcurrentDictionary<string, TaskCompletionSource<string>> _waiting = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _finished = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<string> _finishedOrder = new();
    private IDisposable? _jobWatch;

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

    /// <summary>systemd's version string, e.g. "252.38-1~deb12u1".</summary>
    public async Task<string> GetVersionAsync()
    {
        var value = await GetPropertyAsync(ManagerPath, ManagerInterface, "Version").ConfigureAwait(false);
        return value.GetString();
    }

    /// <summary>
    /// StartTransientUnit(<paramref name="name"/>, <paramref name="mode"/>, properties, no aux units) and waits for its
    /// job; throws <see cref="SystemdException"/> when systemd refuses it or the job result is not "done".
    /// </summary>
    public async Task StartTransientUnitAsync(string name, string mode, IReadOnlyList<UnitProperty> properties, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(properties);
        var job = await CallAsync(
            ManagerPath, ManagerInterface, "StartTransientUnit", "ssa(sv)a(sa(sv))",
            (ref MessageWriter writer) =>
            {
                writer.WriteString(name);
                writer.WriteString(mode);
                WriteProperties(ref writer, properties);
                var aux = writer.WriteArrayStart(DBusType.Struct);
                writer.WriteArrayEnd(aux);
            },
            (message, _) => message.GetBodyReader().ReadObjectPathAsString()).ConfigureAwait(false);
        var result = await WaitForJobAsync(job, cancellationToken).ConfigureAwait(false);
        if (result != "done")
        {
            throw new SystemdException($"starting unit {name} ended with \"{result}\"", result);
        }
    }

    /// <summary>SetUnitProperties(<paramref name="name"/>, runtime, properties): changes a live unit's settings.</summary>
    public Task SetUnitPropertiesAsync(string name, bool runtime, IReadOnlyList<UnitProperty> properties) =>
        CallAsync(ManagerPath, ManagerInterface, "SetUnitProperties", "sba(sv)", (ref MessageWriter writer) =>
        {
            writer.WriteString(name);
            writer.WriteBool(runtime);
            WriteProperties(ref writer, properties);
        });

    /// <summary>StopUnit(<paramref name="name"/>, "replace") and waits for the job; false when there was no such unit.</summary>
    public async Task<bool> StopUnitAsync(string name, CancellationToken cancellationToken = default)
    {
        string job;
        try
        {
            job = await CallAsync(
                ManagerPath, ManagerInterface, "StopUnit", "ss",
                (ref MessageWriter writer) =>
                {
                    writer.WriteString(name);
                    writer.WriteString("replace");
                },
                (message, _) => message.GetBodyReader().ReadObjectPathAsString()).ConfigureAwait(false);
        }
        catch (SystemdException e) when (e.ErrorName == "org.freedesktop.systemd1.NoSuchUnit")
        {
            return false;
        }

        var result = await WaitForJobAsync(job, cancellationToken).ConfigureAwait(false);
        if (result is not ("done" or "canceled"))
        {
            throw new SystemdException($"stopping unit {name} ended with \"{result}\"", result);
        }

        return true;
    }

    /// <summary>ResetFailedUnit(<paramref name="name"/>): forgets a failed unit; no such unit (or not failed) is fine.</summary>
    public async Task ResetFailedUnitAsync(string name)
    {
        try
        {
            await CallAsync(ManagerPath, ManagerInterface, "ResetFailedUnit", "s", (ref MessageWriter writer) => writer.WriteString(name)).ConfigureAwait(false);
        }
        catch (SystemdException e) when (e.ErrorName is "org.freedesktop.systemd1.NoSuchUnit" or "org.freedesktop.systemd1.UnitNotFailed")
        {
        }
    }

    /// <summary>The object path of loaded unit <paramref name="name"/>, or null when systemd has no such unit loaded.</summary>
    public async Task<string?> GetUnitAsync(string name)
    {
        try
        {
            return await CallAsync(
                ManagerPath, ManagerInterface, "GetUnit", "s", (ref MessageWriter writer) => writer.WriteString(name),
                (message, _) => message.GetBodyReader().ReadObjectPathAsString()).ConfigureAwait(false);
        }
        catch (SystemdException e) when (e.ErrorName == "org.freedesktop.systemd1.NoSuchUnit")
        {
            return null;
        }
    }

    /// <summary>All properties of <paramref name="interfaceName"/> (e.g. <c>org.freedesktop.systemd1.Scope</c>) of the unit at <paramref name="unitPath"/>.</summary>
    public Task<Dictionary<string, VariantValue>> GetAllPropertiesAsync(string unitPath, string interfaceName) =>
        CallAsync(
            unitPath, PropertiesInterface, "GetAll", "s", (ref MessageWriter writer) => writer.WriteString(interfaceName),
            (message, _) => message.GetBodyReader().ReadDictionaryOfStringToVariantValue());

    /// <summary>One property of an object.</summary>
    public Task<VariantValue> GetPropertyAsync(string path, string interfaceName, string property) =>
        CallAsync(
            path, PropertiesInterface, "Get", "ss",
            (ref MessageWriter writer) =>
            {
                writer.WriteString(interfaceName);
                writer.WriteString(property);
            },
            (message, _) => message.GetBodyReader().ReadVariantValue());

    /// <summary>GetUnitProcesses(<paramref name="name"/>): every process in the unit's cgroup.</summary>
    public Task<IReadOnlyList<UnitProcess>> GetUnitProcessesAsync(string name) =>
        CallAsync<IReadOnlyList<UnitProcess>>(
            ManagerPath, ManagerInterface, "GetUnitProcesses", "s", (ref MessageWriter writer) => writer.WriteString(name),
            (message, _) =>
            {
                var reader = message.GetBodyReader();
                var result = new List<UnitProcess>();
                var end = reader.ReadArrayStart(DBusType.Struct);
                while (reader.HasNext(end))
                {
                    reader.AlignStruct();
                    var cgroup = reader.ReadString();
                    var pid = reader.ReadUInt32();
                    var command = reader.ReadString();
                    result.Add(new UnitProcess(cgroup, (int)pid, command));
                }

                return result;
            });

    /// <inheritdoc />
    public void Dispose()
    {
        _jobWatch?.Dispose();
        _connection.Dispose();
        foreach (var waiter in _waiting.Values)
        {
            waiter.TrySetException(new ObjectDisposedException(nameof(SystemdManager)));
        }
    }

    private static void WriteProperties(ref MessageWriter writer, IReadOnlyList<UnitProperty> properties)
    {
        var array = writer.WriteArrayStart(DBusType.Struct);
        foreach (var property in properties)
        {
            writer.WriteStructureStart();
            writer.WriteString(property.Name);
            writer.WriteVariant(property.Value);
        }

        writer.WriteArrayEnd(array);
    }

    // Signals are only sent to subscribers on the bus (always on the private socket); a peer-to-peer message has no
    // sender, so the match names none there.
    private async Task WatchJobsAsync()
    {
        var rule = new MatchRule
        {
            Type = MessageType.Signal,
            Path = ManagerPath,
            Interface = ManagerInterface,
            Member = "JobRemoved",
            Sender = ThroughBus ? Service : null,
        };
        _jobWatch = await _connection.AddMatchAsync(
            rule,
            static (message, _) =>
            {
                var reader = message.GetBodyReader();
                reader.ReadUInt32();
                var job = reader.ReadObjectPathAsString();
                reader.ReadString();
                return (Job: job, Result: reader.ReadString());
            },
            notification =>
            {
                if (notification.HasValue)
                {
                    OnJobRemoved(notification.Value.Job, notification.Value.Result);
                }
            },
            emitOnCapturedContext: false,
            ObserverFlags.None).ConfigureAwait(false);
        await CallAsync(ManagerPath, ManagerInterface, "Subscribe", null, (ref MessageWriter _) => { }).ConfigureAwait(false);
    }

    private void OnJobRemoved(string? job, string? result)
    {
        if (job is null || result is null)
        {
            return;
        }

        if (_waiting.TryRemove(job, out var waiter))
        {
            waiter.TrySetResult(result);
            return;
        }

        // The signal can beat the reply that names the job: keep recent results for a waiter still to come.
        _finished[job] = result;
        _finishedOrder.Enqueue(job);
        while (_finishedOrder.Count > FinishedJobsKept && _finishedOrder.TryDequeue(out var old))
        {
            _finished.TryRemove(old, out _);
        }
    }

    private async Task<string> WaitForJobAsync(string job, CancellationToken cancellationToken)
    {
        if (_finished.TryRemove(job, out var early))
        {
            return early;
        }

        var waiter = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        _waiting[job] = waiter;
        if (_finished.TryRemove(job, out early))
        {
            _waiting.TryRemove(job, out _);
            return early;
        }

        try
        {
            return await waiter.Task.WaitAsync(JobTimeout, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException e)
        {
            throw new SystemdException($"systemd job {job} did not finish within {JobTimeout.TotalSeconds:0} s", "timeout", e);
        }
        finally
        {
            _waiting.TryRemove(job, out _);
        }
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
