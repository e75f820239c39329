using System.Diagnostics;
using System.Globalization;
using System.Text;
using WasmKata.Linux.Cgroups;
using WasmKata.Linux.Systemd;
using Xunit;

namespace WasmKata.Specs.Linux.Systemd;

/// <summary>
/// A real systemd, booted as PID 1 of new PID, mount and cgroup namespaces, for the systemd driver's specs; the host's
/// own systemd (if any) is never touched.
/// </summary>
/// <remarks>
/// How: a shell moves itself into fresh cgroups under this process's own (one per hierarchy systemd needs), then runs
/// <c>unshare --pid --fork --mount --mount-proc --cgroup --propagation private</c>. Inside, before systemd starts, it
/// mounts its own tmpfs on /run and /tmp (systemd's tmpfiles logic must not touch the host's) and on /sys/fs/cgroup with
/// the cgroup hierarchies mounted afresh (so they show the namespace's root), writes a target that pulls in nothing but
/// two sockets, and execs systemd with it as the default unit, so no host service (nor sysinit.target with udev or
/// sysctl) starts. Teardown SIGKILLs the namespace's init, which ends every process in it, waits, removes the cgroups and
/// checks that the host's mount table is as it was.
/// Reaching it from here: its private socket refuses us, because systemd requires a peer pid it can see and ours lies
/// outside its pid namespace; so the target also starts systemd-socket-proxyd inside, listening on
/// /run/wasmkata-bus.sock and connecting to /run/systemd/private (still peer-to-peer systemd, no dbus-daemon), and a
/// dbus-daemon for the system bus path (it accepts peers whose pid it cannot see). Boot is done when systemd answers on
/// both.
/// </remarks>
public sealed class SystemdFixture : IAsyncLifetime
{
    private const string SystemdBinary = "/lib/systemd/systemd";
    private static readonly TimeSpan BootTimeout = TimeSpan.FromSeconds(60);

    // Hierarchies systemd needs (named systemd, unified) and those the driver limits; others stay the host's.
    private static readonly string[] s_hierarchies = ["cpu", "cpuacct", "memory", "pids", "name=systemd"];

    private readonly string _id = Guid.NewGuid().ToString("N")[..10];
    private readonly List<string> _cgroups = [];
    private Process? _unshare; // the watching shell, parent of unshare
    private HashSet<string> _hostMounts = [];

    /// <summary>The namespace's init, systemd, as this (the host's) pid namespace numbers it.</summary>
    public int Pid { get; private set; }

    /// <summary>Peer-to-peer D-Bus to systemd's private socket, through the proxy inside the namespace.</summary>
    public string PrivateAddress => $"unix:path=/proc/{Pid}/root/run/wasmkata-bus.sock";

    /// <summary>The namespace's system bus (a dbus-daemon systemd started there and joined).</summary>
    public string SystemBusAddress => $"unix:path=/proc/{Pid}/root/run/dbus/system_bus_socket";

    /// <summary>The private socket itself, as seen from here.</summary>
    public string PrivateSocketPath => $"/proc/{Pid}/root/run/systemd/private";

    /// <summary>How long boot took, until the manager answered.</summary>
    public TimeSpan BootTime { get; private set; }

    /// <summary>Host mounts that appeared while systemd ran and are still there after teardown (empty is right).</summary>
    public IReadOnlyList<string> LeakedMounts { get; private set; } = [];

    /// <summary>The directory of the namespace's root cgroup in the v1 hierarchy of <paramref name="controller"/>.</summary>
    public string CgroupRoot(string controller)
    {
        var mounts = CgroupMounts.Read();
        var hierarchy = mounts.V1(controller) ?? throw new InvalidOperationException($"{controller} is not mounted");
        return hierarchy.Directory(Own(hierarchy) + "/" + Name);
    }

    private string Name => "wk-sd-" + _id;

    public async Task InitializeAsync()
    {
        EnsurePackages();
        _hostMounts = HostMounts();
        var clock = Stopwatch.StartNew();
        var procs = PrepareCgroups();

        var start = new ProcessStartInfo("/bin/sh") { UseShellExecute = false, RedirectStandardInput = true };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(OuterScript);
        start.ArgumentList.Add("wasmkata-systemd");
        start.ArgumentList.Add(Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
        foreach (var file in procs)
            start.ArgumentList.Add(file);
        start.Environment["WK_INNER"] = InnerScript();
        _unshare = Process.Start(start)!;

        var unshare = await Until(() => Children(_unshare.Id).FirstOrDefault(c => Comm(c) == "unshare"), "unshare to start");
        Pid = await Until(() => Children(unshare) is [var child] && Comm(child) == "systemd" ? child : 0, "systemd to start");
        var bridge = $"/proc/{Pid}/root/run/wasmkata-bus.sock";
        await Until(() => File.Exists(bridge) && File.Exists(PrivateSocketPath) ? 1 : 0, "systemd's sockets");
        using (var manager = await ConnectWithRetry(PrivateAddress))
            await manager.GetVersionAsync();
        using (var manager = await ConnectWithRetry(SystemBusAddress))
            await manager.GetVersionAsync();
        BootTime = clock.Elapsed;
    }

    public async Task DisposeAsync()
    {
        if (_unshare is not null)
        {
            if (Pid != 0)
                WasmKata.Linux.Processes.Signals.TrySend(Pid, 9);
            if (!_unshare.HasExited)
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
                try
                {
                    await _unshare.WaitForExitAsync(timeout.Token);
                }
                catch (OperationCanceledException)
                {
                    _unshare.Kill(entireProcessTree: true);
                }
            }
            _unshare.Dispose();
        }

        foreach (var directory in _cgroups.AsEnumerable().Reverse())
            await RemoveTree(directory);
        LeakedMounts = HostMounts().Except(_hostMounts).ToArray();
    }

    /// <summary>Starts <paramref name="command"/> in the namespace (its pid and mount namespaces) and gives its pid there.</summary>
    public async Task<(int NamespacePid, Process Process)> StartInside(params string[] command)
    {
        var start = new ProcessStartInfo("nsenter") { UseShellExecute = false, RedirectStandardOutput = true };
        foreach (var argument in new[] { "-t", Pid.ToString(CultureInfo.InvariantCulture), "-p", "-m", "--", "/bin/sh", "-c", "echo $$; exec \"$@\"", "inside" }.Concat(command))
            start.ArgumentList.Add(argument);
        var process = Process.Start(start)!;
        var line = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10));
        return (int.Parse(line!, CultureInfo.InvariantCulture), process);
    }

    /// <summary>A path inside the namespace's mount namespace, as seen from here.</summary>
    public string Inside(string path) => $"/proc/{Pid}/root{path}";

    public async Task<SystemdManager> ConnectWithRetry(string address)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                var manager = await SystemdManager.ConnectAsync([address]);
                try
                {
                    // Through the bus, systemd answers only once it has joined it.
                    await manager.GetVersionAsync();
                    return manager;
                }
                catch
                {
                    manager.Dispose();
                    throw;
                }
            }
            catch (SystemdException) when (clock.Elapsed < BootTimeout)
            {
                await Task.Delay(50);
            }
        }
    }

    // Joins the prepared cgroups, then keeps watch: should this process die without tearing down (a killed test run),
    // the namespace goes too (unshare --kill-child ends its init when unshare ends).
    private const string OuterScript = """
        host=$1; shift
        for f; do echo $$ > "$f" || exit 1; done
        unshare --kill-child --pid --fork --mount --mount-proc --cgroup --propagation private /bin/sh -c "$WK_INNER" &
        ns=$!
        trap 'kill -9 "$ns" 2>/dev/null; exit 1' HUP INT TERM
        while kill -0 "$host" 2>/dev/null && kill -0 "$ns" 2>/dev/null; do sleep 1; done
        kill -9 "$ns" 2>/dev/null
        wait
        """;

    private string InnerScript()
    {
        var script = new StringBuilder();
        script.AppendLine("set -e");
        script.AppendLine("mount --make-rprivate /");
        script.AppendLine("mount -t tmpfs -o mode=755 wasmkata-run /run");
        script.AppendLine("mount -t tmpfs -o mode=1777 wasmkata-tmp /tmp");
        script.AppendLine("mount -t tmpfs -o mode=755 wasmkata-cgroup /sys/fs/cgroup");
        foreach (var hierarchy in Hierarchies())
        {
            var dir = hierarchy.Version == CgroupVersion.V2 ? "unified" : hierarchy.Controllers.Contains("name=systemd") ? "systemd" : string.Join(',', hierarchy.Controllers);
            script.AppendLine(CultureInfo.InvariantCulture, $"mkdir -p /sys/fs/cgroup/{dir}");
            script.AppendLine(hierarchy.Version == CgroupVersion.V2
                ? $"mount -t cgroup2 cgroup2 /sys/fs/cgroup/{dir}"
                : $"mount -t cgroup -o {string.Join(',', hierarchy.Controllers.Select(c => c.StartsWith("name=", StringComparison.Ordinal) ? "none," + c : c))} cgroup /sys/fs/cgroup/{dir}");
            if (dir.Contains(',', StringComparison.Ordinal))
            {
                foreach (var controller in hierarchy.Controllers)
                    script.AppendLine(CultureInfo.InvariantCulture, $"ln -s {dir} /sys/fs/cgroup/{controller}");
            }
        }
        script.AppendLine("mkdir -p /run/systemd/system");
        Unit(script, "wasmkata-spec.target", "[Unit]\nDescription=WasmKata spec target\nDefaultDependencies=no\nWants=wasmkata-bus.socket dbus.socket dbus.service\n");
        Unit(script, "wasmkata-bus.socket", "[Unit]\nDefaultDependencies=no\n[Socket]\nListenStream=/run/wasmkata-bus.sock\nSocketMode=0600\n");
        Unit(script, "wasmkata-bus.service", "[Unit]\nDefaultDependencies=no\n[Service]\nExecStart=/lib/systemd/systemd-socket-proxyd /run/systemd/private\n");
        // systemd joins the system bus only once units of these very names run; these replace Debian's, whose default
        // dependencies would pull in sysinit.target.
        Unit(script, "dbus.socket", "[Unit]\nDefaultDependencies=no\n[Socket]\nListenStream=/run/dbus/system_bus_socket\nSocketMode=0666\n");
        Unit(script, "dbus.service", "[Unit]\nDefaultDependencies=no\nRequires=dbus.socket\n[Service]\nExecStart=/usr/bin/dbus-daemon --system --address=systemd: --nofork --nopidfile --systemd-activation\n");
        script.AppendLine("export container=wasmkata SYSTEMD_LOG_TARGET=console SYSTEMD_LOG_COLOR=0");
        script.AppendLine(CultureInfo.InvariantCulture, $"exec {SystemdBinary} --unit=wasmkata-spec.target");
        return script.ToString();
    }

    private static void Unit(StringBuilder script, string name, string text) =>
        script.AppendLine(CultureInfo.InvariantCulture, $"printf '{text.Replace("\n", "\\n", StringComparison.Ordinal)}' > /run/systemd/system/{name}");

    private static IEnumerable<CgroupHierarchy> Hierarchies()
    {
        var mounts = CgroupMounts.Read();
        return s_hierarchies.Select(mounts.V1).OfType<CgroupHierarchy>().DistinctBy(h => h.MountPoint)
            .Concat(mounts.Unified is { } unified ? [unified] : []);
    }

    private static string Own(CgroupHierarchy hierarchy) => (CgroupMembership.Read().In(hierarchy) ?? "/").TrimEnd('/');

    // The namespace's root cgroups, under this process's own: its cgroup namespace starts where the shell moved itself.
    private List<string> PrepareCgroups()
    {
        var procs = new List<string>();
        foreach (var hierarchy in Hierarchies())
        {
            var directory = hierarchy.Directory(Own(hierarchy) + "/" + Name);
            Directory.CreateDirectory(directory);
            _cgroups.Add(directory);
            procs.Add(Path.Combine(directory, "cgroup.procs"));
        }
        return procs;
    }

    private static async Task RemoveTree(string directory)
    {
        if (!Directory.Exists(directory))
            return;
        foreach (var child in Directory.GetDirectories(directory))
            await RemoveTree(child);
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                Directory.Delete(directory);
                return;
            }
            catch (IOException) when (attempt < 100)
            {
                // Killed tasks leave their cgroup only once reaped.
                await Task.Delay(20);
            }
        }
    }

    // What the namespace mounts, should it show up here: its tmpfs (by their source names), proc, and cgroup mounts.
    // Other work on the machine may mount other things meanwhile; those are not ours to judge.
    private static HashSet<string> HostMounts() =>
        File.ReadAllLines("/proc/self/mountinfo")
            .Select(l => l.Split(' '))
            .Select(f => (MountPoint: f[4], Source: f[Array.IndexOf(f, "-") + 2], Type: f[Array.IndexOf(f, "-") + 1]))
            .Where(m => m.Source.StartsWith("wasmkata-", StringComparison.Ordinal) || m.MountPoint is "/run" or "/tmp" or "/proc"
                || m.MountPoint.StartsWith("/sys/fs/cgroup", StringComparison.Ordinal) || m.Type is "proc" or "cgroup" or "cgroup2")
            .Select(m => $"{m.MountPoint} {m.Type} {m.Source}")
            .ToHashSet();

    private static int[] Children(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/task/{pid}/children").Split(' ', StringSplitOptions.RemoveEmptyEntries)
                .Select(p => int.Parse(p, CultureInfo.InvariantCulture)).ToArray();
        }
        catch (IOException)
        {
            return [];
        }
    }

    private static string? Comm(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/comm").Trim();
        }
        catch (IOException)
        {
            return null;
        }
    }

    private async Task<int> Until(Func<int> probe, string what)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var value = probe();
            if (value != 0)
                return value;
            if (_unshare!.HasExited)
                throw new InvalidOperationException($"the systemd namespace ended (exit {_unshare.ExitCode}) while waiting for {what}");
            if (clock.Elapsed > BootTimeout)
                throw new TimeoutException($"no {what} within {BootTimeout}");
            await Task.Delay(20);
        }
    }

    private static void EnsurePackages()
    {
        if (File.Exists(SystemdBinary) && File.Exists("/lib/systemd/systemd-socket-proxyd") && File.Exists("/usr/bin/dbus-daemon") && File.Exists("/usr/bin/nsenter"))
            return;
        Run("apt-get", "update", "-q");
        Run("apt-get", "install", "-y", "-q", "--no-install-recommends", "systemd", "dbus", "util-linux");
    }

    private static void Run(string file, params string[] arguments)
    {
        var start = new ProcessStartInfo(file) { UseShellExecute = false };
        foreach (var argument in arguments)
            start.ArgumentList.Add(argument);
        start.Environment["DEBIAN_FRONTEND"] = "noninteractive";
        using var process = Process.Start(start)!;
        process.WaitForExit();
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"{file} {string.Join(' ', arguments)} failed with {process.ExitCode}");
    }
}
