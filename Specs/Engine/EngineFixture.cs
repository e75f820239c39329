using System.Collections.Concurrent;
using System.Text;
using WasmKata.Core.Plan;
using WasmKata.Engine;

namespace WasmKata.Specs.Engine;

/// <summary>One engine per spec class, a scratch directory, and the test guests compiled once each.</summary>
public sealed class EngineFixture : IDisposable
{
    private readonly ConcurrentDictionary<string, GuestModule> _modules = new();

    public EngineFixture()
    {
        Directory = System.IO.Directory.CreateTempSubdirectory("wasmkata-engine-").FullName;
        Engine = new WasmEngine(new EngineOptions());
    }

    public WasmEngine Engine { get; }

    public string Directory { get; }

    /// <summary>The guest compiled from <paramref name="wat"/>, loaded through the engine from a .wasm file.</summary>
    public GuestModule Module(string name, string wat) => _modules.GetOrAdd(name, _ => Engine.Load(WriteWasm(name, wat)));

    public string WriteWasm(string name, string wat)
    {
        var path = Path.Combine(Directory, name + ".wasm");
        File.WriteAllBytes(path, Wasmtime.Module.ConvertText(wat));
        return path;
    }

    /// <summary>A fresh empty directory to serve as a rootfs.</summary>
    public string NewRootfs()
    {
        var path = Path.Combine(Directory, "rootfs-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(path);
        return path;
    }

    public static GuestConfig Config(string rootfs, params string[] args) =>
        new(["guest.wasm", .. args], [], rootfs, false, "/", [], null);

    /// <summary>Creates and instantiates a guest of the named test module.</summary>
    public Guest Guest(string name, string wat, GuestConfig config, IGuestOutput? stdout = null, IGuestOutput? stderr = null, string? stdin = null)
    {
        var guest = Engine.CreateGuest(Module(name, wat), config, new GuestStdio(stdin, stdout, stderr));
        guest.Instantiate();
        return guest;
    }

    public void Dispose()
    {
        Engine.Dispose();
        System.IO.Directory.Delete(Directory, recursive: true);
    }
}

/// <summary>Runs a guest on its own thread, as the process actor does.</summary>
internal sealed class GuestRunner
{
    private readonly Thread _thread;
    private GuestExit _exit;
    private Exception? _error;

    private GuestRunner(Guest guest)
    {
        _thread = new Thread(() =>
        {
            try
            {
                _exit = guest.Run();
            }
            catch (Exception e)
            {
                _error = e;
            }
        })
        {
            IsBackground = true,
            Name = "spec guest",
        };
    }

    public static GuestRunner Start(Guest guest)
    {
        var runner = new GuestRunner(guest);
        runner._thread.Start();
        return runner;
    }

    /// <summary>Waits for Run to return and gives its result; throws if it did not within <paramref name="timeout"/>.</summary>
    public GuestExit Join(TimeSpan timeout)
    {
        if (!_thread.Join(timeout))
            throw new TimeoutException($"the guest did not end within {timeout}");
        if (_error is not null)
            throw new InvalidOperationException("Run threw", _error);
        return _exit;
    }

    public GuestExit Join() => Join(TimeSpan.FromSeconds(30));

    public static GuestExit RunToEnd(Guest guest) => Start(guest).Join();
}

/// <summary>Collects what a guest writes and lets a spec wait for a marker in it.</summary>
internal sealed class CapturedOutput : IGuestOutput
{
    private readonly object _gate = new();
    private readonly MemoryStream _bytes = new();

    public string Text
    {
        get
        {
            lock (_gate)
                return Encoding.UTF8.GetString(_bytes.GetBuffer(), 0, (int)_bytes.Length);
        }
    }

    public void Write(ReadOnlySpan<byte> data)
    {
        lock (_gate)
        {
            _bytes.Write(data);
            Monitor.PulseAll(_gate);
        }
    }

    /// <summary>Blocks until <paramref name="marker"/> was written; false after <paramref name="timeout"/>.</summary>
    public bool WaitFor(string marker, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        lock (_gate)
        {
            while (!Encoding.UTF8.GetString(_bytes.GetBuffer(), 0, (int)_bytes.Length).Contains(marker, StringComparison.Ordinal))
            {
                var left = deadline - DateTime.UtcNow;
                if (left <= TimeSpan.Zero)
                    return false;
                Monitor.Wait(_gate, left);
            }
            return true;
        }
    }
}
