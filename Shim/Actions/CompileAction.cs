using System.Globalization;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using Serilog;
using WasmKata.Engine;
using WasmKata.Linux;
using WasmKata.Linux.Cgroups;
using WasmKata.Shim.Hosting;

namespace WasmKata.Shim.Actions;

/// <summary>
/// <c>containerd-shim-wasmkata-v2 compile</c>: a big module's Cranelift code for the compile cache, in a process that
/// outlives the daemon which started it, so no daemon stays after its last container for it.
/// </summary>
/// <remarks>
/// It runs at nice 10 on one core, in a cgroup of its own at the root of each hierarchy
/// (<c>/wasmkata-compile-PID</c>, a tenth of the default CPU weight), not in the pod's: the pod's cgroup goes with its
/// last container while the compile may still run. It removes that cgroup when it is done, also when it passes its time
/// limit (it then logs that and exits), and removes the ones compile processes that were SIGKILLed left. Its log is
/// <c>compile.log</c> in the cache directory. The module comes as fd 3; the entry is written under the cache's locks.
/// </remarks>
internal static class CompileAction
{
    public const string Name = "compile";

    /// <summary>What it is called in ps (comm: 15 characters at most).</summary>
    public const string ProcessName = "wasmkata-opt";

    /// <summary>The longest a compile process runs before it gives up (Cranelift took 30-40 s of CPU for a 30 MB module).</summary>
    public static readonly TimeSpan DefaultLimit = TimeSpan.FromMinutes(10);

    /// <summary>The cgroup name prefix, under each hierarchy's root.</summary>
    public const string CgroupPrefix = "wasmkata-compile-";

    private const int ModuleFd = 3;
    private const long LogMaxBytes = 1 << 20;

    // What the cgroup lets the compile have: a tenth of the default CPU weight (guests of every pod come first) and a
    // bound on tasks. No memory limit: Cranelift's working set for a 30 MB module is ~0.8 GB and grows with the module.
    private static readonly CgroupLimits s_limits = new() { CpuShares = 102, PidsMax = 256 };

    /// <summary>Runs the compile on the main thread (whose nice its threads inherit); 0 when the cache has the code afterwards.</summary>
    public static int Run(string[] args)
    {
        CompileArgs parsed;
        try
        {
            parsed = CompileArgs.Parse(args);
        }
        catch (FormatException e)
        {
            Console.Error.WriteLine($"containerd-shim-wasmkata-v2 compile: {e.Message}");
            return 2;
        }
        Self.SetProcessName(ProcessName);
        var log = ShimLog.CreateAppending(Path.Combine(parsed.Options.ModuleCacheDirectory!, "compile.log"), LogMaxBytes);
        Log.Logger = log;
        ModuleOptimizer.LowerPriority(log);
        var own = new OwnCgroup();
        // SIGTERM (a host shutting down, a spec cleaning up) ends it as the limit does: its cgroup goes too. Both are
        // set before the cgroup is made, so no window leaves one behind.
        using var terminated = PosixSignalRegistration.Create(PosixSignal.SIGTERM, _ => GiveUp(own, log, $"of {parsed.Name} got SIGTERM"));
        using var watchdog = new Timer(_ => GiveUp(own, log, $"of {parsed.Name} passed its limit of {(long)parsed.Limit.TotalSeconds} s"), null, parsed.Limit, Timeout.InfiniteTimeSpan);
        lock (own)
            own.Path = EnterOwnCgroup(log);
        try
        {
            byte[] bytes;
            using (var module = new SafeFileHandle(ModuleFd, ownsHandle: true))
            {
                bytes = new byte[RandomAccess.GetLength(module)];
                var read = RandomAccess.Read(module, bytes, 0);
                if (read != bytes.Length)
                    throw new IOException($"read {read} of the module's {bytes.Length} bytes from fd {ModuleFd}");
            }
            return CompileProcessWork.Run(parsed.Options, parsed.Name, bytes, log) ? 0 : 1;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            log.Warning("compile process: {Module} not compiled: {Error}", parsed.Name, e.Message);
            return 1;
        }
        finally
        {
            lock (own)
            {
                LeaveOwnCgroup(own.Path, log);
                own.Path = null;
            }
            (log as IDisposable)?.Dispose();
        }
    }

    // Under the cgroup's lock: the main thread cannot be entering or leaving it meanwhile.
    private static void GiveUp(OwnCgroup own, ILogger log, string why)
    {
        lock (own)
        {
            log.Warning("compile process: the Cranelift compile {Why}; killed, starts keep the Winch code", why);
            LeaveOwnCgroup(own.Path, log);
            (log as IDisposable)?.Dispose();
            Self.ExitImmediately(124);
        }
    }

    // The cgroup this process made for itself, once it has.
    private sealed class OwnCgroup
    {
        public CgroupsPath? Path { get; set; }
    }

    // Into /wasmkata-compile-PID (cgroupfs, whatever driver the pods use), after removing the empty ones of compile
    // processes that are gone. Without it (no cgroupfs, not root) the compile runs where the daemon was.
    private static CgroupsPath? EnterOwnCgroup(ILogger log)
    {
        try
        {
            var driver = new CgroupfsDriver();
            RemoveLeftovers(driver, log);
            var path = new FsCgroupsPath("/" + CgroupPrefix + Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
            driver.CreateAsync(path, Environment.ProcessId, s_limits).GetAwaiter().GetResult();
            return path;
        }
        catch (Exception e) when (e is CgroupException or IOException or UnauthorizedAccessException)
        {
            log.Warning("compile process: no cgroup of its own ({Error}); it compiles in the daemon's", e.Message);
            return null;
        }
    }

    // Moves this process to the hierarchy's root and removes the cgroup: nothing of the compile is left.
    private static void LeaveOwnCgroup(CgroupsPath? cgroup, ILogger log)
    {
        if (cgroup is null)
            return;
        try
        {
            new CgroupfsDriver().RemoveAsync(cgroup).GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is CgroupException or IOException or UnauthorizedAccessException)
        {
            log.Warning("compile process: cannot remove its cgroup {Cgroup}: {Error}", cgroup, e.Message);
        }
    }

    private static void RemoveLeftovers(CgroupfsDriver driver, ILogger log)
    {
        foreach (var hierarchy in CgroupMounts.Read().Hierarchies)
        {
            string[] found;
            try
            {
                found = Directory.GetDirectories(hierarchy.Directory("/"), CgroupPrefix + "*");
            }
            catch (Exception e) when (e is CgroupException or IOException or UnauthorizedAccessException)
            {
                continue; // Not our part of that hierarchy, or not mounted here.
            }
            foreach (var directory in found)
            {
                var name = Path.GetFileName(directory);
                if (!int.TryParse(name.AsSpan(CgroupPrefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) || Directory.Exists($"/proc/{pid}"))
                    continue;
                try
                {
                    driver.RemoveAsync(new FsCgroupsPath("/" + name)).GetAwaiter().GetResult();
                    log.Information("compile process: removed the cgroup {Cgroup} of a compile process that is gone", name);
                }
                catch (Exception e) when (e is CgroupException or IOException or UnauthorizedAccessException)
                {
                    log.Warning("compile process: cannot remove the left-over cgroup {Cgroup}: {Error}", name, e.Message);
                }
            }
        }
    }
}

/// <summary>The compile action's flags: the module's name, and the engine and cache settings of the daemon.</summary>
internal sealed record CompileArgs(string Name, EngineOptions Options, TimeSpan Limit)
{
    public static CompileArgs Parse(IReadOnlyList<string> args)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < args.Count; i += 2)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal) || i + 1 >= args.Count)
                throw new FormatException($"expected --flag value pairs, got \"{args[i]}\"");
            values[args[i][2..]] = args[i + 1];
        }
        string Get(string name) => values.TryGetValue(name, out var value) ? value : throw new FormatException($"--{name} is missing");
        long Number(string name) => long.TryParse(Get(name), NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0
            ? n
            : throw new FormatException($"--{name} must be a positive number, not \"{Get(name)}\"");
        var options = new EngineOptions
        {
            ModuleCacheDirectory = Get("cache-dir"),
            ModuleCacheMaxBytes = Number("cache-max-bytes"),
            PoolingAllocator = Get("pooling") == "true",
            PoolingMaxInstances = checked((int)Number("pooling-instances")),
            PoolingMaxMemoryBytes = Number("pooling-max-memory"),
        };
        return new CompileArgs(Get("name"), options, TimeSpan.FromSeconds(Number("limit-seconds")));
    }
}
