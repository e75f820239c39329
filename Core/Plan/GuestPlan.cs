using WasmKata.Core.Oci;

namespace WasmKata.Core.Plan;

/// <summary>Turns an OCI process and rootfs into what the engine runs, as pure functions of the spec and the rootfs.</summary>
public static class GuestPlan
{
    /// <summary>The host directory of the container's root: <c>root.path</c>, relative to the bundle unless absolute.</summary>
    public static string RootfsPath(OciSpec spec, string bundle)
    {
        var path = spec.Root?.Path;
        if (string.IsNullOrEmpty(path))
            path = "rootfs";
        return Path.GetFullPath(Path.IsPathRooted(path) ? path : Path.Combine(bundle, path));
    }

    /// <summary>The annotation that marks a container as WebAssembly (Kata's host wasm containers).</summary>
    public const string WasmAnnotation = "io.katacontainers.platform.wasi/wasm32";

    /// <summary>The annotation by which a container asks for outgoing HTTP (<c>wasi:http</c>) for its components.</summary>
    public const string OutgoingHttpAnnotation = "io.containerd.wasmkata.v2.outgoing-http";

    /// <summary>CRI's annotation telling a pod's sandbox (pause) container from its workload containers.</summary>
    public const string ContainerTypeAnnotation = "io.kubernetes.cri.container-type";

    private static readonly string[] SystemMountPrefixes = ["/proc", "/sys", "/dev"];

    /// <summary>Whether the spec marks the container as wasm (<c>yes</c> or <c>true</c>).</summary>
    public static bool IsMarkedWasm(OciSpec spec) =>
        spec.Annotations?.TryGetValue(WasmAnnotation, out var value) == true && value is "yes" or "true";

    /// <summary>
    /// Whether the container's components get outgoing HTTP: only when it asks (<see cref="OutgoingHttpAnnotation"/>
    /// <c>yes</c> or <c>true</c>) and configuration.toml allows it (<c>[wasmkata.engine] outgoing_http</c>, "annotated"
    /// by default). Asking while the configuration says "off" is refused, so the container does not run without what it
    /// asked for; any other value of the annotation is refused too.
    /// </summary>
    public static bool OutgoingHttp(OciSpec spec, string setting)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (spec.Annotations?.TryGetValue(OutgoingHttpAnnotation, out var value) != true)
            return false;
        var asked = value switch
        {
            "yes" or "true" => true,
            "no" or "false" or "" => false,
            _ => throw new GuestPlanException(FailureCode.InvalidArgument,
                $"annotation {OutgoingHttpAnnotation}=\"{value}\" is not one of yes, true, no, false"),
        };
        if (asked && setting == "off")
        {
            throw new GuestPlanException(FailureCode.FailedPrecondition,
                $"the container asks for outgoing HTTP ({OutgoingHttpAnnotation}={value}) but configuration.toml turns it off ([wasmkata.engine] outgoing_http = \"off\")");
        }
        return asked;
    }

    /// <summary>Whether this is a CRI pod's sandbox container: the sandbox itself, never run as wasm.</summary>
    public static bool IsPodSandbox(OciSpec spec) =>
        spec.Annotations?.TryGetValue(ContainerTypeAnnotation, out var value) == true && value == "sandbox";

    /// <summary>
    /// The spec's bind mounts of host directories, as preopens at their destinations (read-only with <c>ro</c>).
    /// Kernel filesystems (proc, sysfs, devpts, tmpfs, ...) and single files have no meaning for a WASI guest.
    /// </summary>
    public static IReadOnlyList<Preopen> Preopens(IReadOnlyList<OciMount>? mounts)
    {
        var preopens = new List<Preopen>();
        foreach (var mount in mounts ?? [])
        {
            var options = mount.Options ?? [];
            var isBind = mount.Type == "bind" || options.Contains("bind") || options.Contains("rbind");
            if (!isBind || string.IsNullOrEmpty(mount.Source) || string.IsNullOrEmpty(mount.Destination) || !mount.Destination.StartsWith('/'))
                continue;
            var destination = NormalizeGuestPath(mount.Destination);
            if (SystemMountPrefixes.Any(p => destination == p || destination.StartsWith(p + "/", StringComparison.Ordinal)))
                continue;
            if (!Directory.Exists(mount.Source))
            {
                // A file is fine to leave out; a source that is not there at all is refused, as runc refuses it.
                if (!File.Exists(mount.Source))
                    throw new GuestPlanException(FailureCode.NotFound, $"mount source {mount.Source} for {destination} does not exist");
                continue;
            }
            preopens.Add(new Preopen(mount.Source, destination, options.Contains("ro")));
        }
        return preopens;
    }

    /// <summary>The module to load and the guest's configuration; throws <see cref="GuestPlanException"/> with a clear reason.</summary>
    public static (string ModulePath, GuestConfig Config) For(
        OciProcess? process, string rootfs, bool rootReadOnly, long? memoryLimit, IReadOnlyList<Preopen>? preopens = null, bool markedWasm = true,
        bool outgoingHttp = false)
    {
        var args = process?.Args ?? [];
        if (args.Count == 0 || string.IsNullOrEmpty(args[0]))
            throw new GuestPlanException(FailureCode.InvalidArgument, "process.args is empty: args[0] must name the wasm module");
        var (env, cwd) = EnvAndCwd(process!);
        var module = FindModule(args[0], cwd, env, rootfs, preopens ?? []);
        if (!markedWasm && !HasWasmMagic(module))
        {
            throw new GuestPlanException(FailureCode.InvalidArgument,
                $"\"{args[0]}\" is not a WebAssembly module and the container is not marked as wasm ({WasmAnnotation}=yes): " +
                "this runtime runs only WebAssembly (WASI) workloads");
        }
        var config = new GuestConfig(args.ToList(), WithPwd(env, cwd), rootfs, rootReadOnly, cwd, preopens ?? [], memoryLimit, outgoingHttp)
        {
            ConsoleSize = ConsoleSize(process!.ConsoleSize),
        };
        return (module, config);
    }

    /// <summary>
    /// Whether process.args[0] names a file of the rootfs or its mounts (found as <see cref="For"/> finds it). When it
    /// does not, the container may be a wasm OCI artifact, whose module is an image layer rather than a file.
    /// </summary>
    public static bool NamesModuleInRootfs(OciProcess? process, string rootfs, IReadOnlyList<Preopen>? preopens = null)
    {
        var args = process?.Args ?? [];
        if (args.Count == 0 || string.IsNullOrEmpty(args[0]))
            return false;
        try
        {
            var (env, cwd) = EnvAndCwd(process!);
            FindModule(args[0], cwd, env, rootfs, preopens ?? []);
            return true;
        }
        catch (GuestPlanException e) when (e.Code == FailureCode.NotFound)
        {
            return false;
        }
        catch (GuestPlanException)
        {
            // Any other fault of the spec is For's to report.
            return true;
        }
    }

    /// <summary>
    /// The guest's configuration when its module is <paramref name="modulePath"/>, a wasm OCI artifact's layer: argv is
    /// process.args exactly as given (argv[0] is the program's name, by convention the module's; it is not looked up),
    /// and everything else is as <see cref="For"/> plans it, the (empty) rootfs preopened as <c>/</c>.
    /// </summary>
    public static (string ModulePath, GuestConfig Config) ForArtifact(
        OciProcess? process, string modulePath, string rootfs, bool rootReadOnly, long? memoryLimit, IReadOnlyList<Preopen>? preopens = null,
        bool outgoingHttp = false)
    {
        var (env, cwd) = EnvAndCwd(process ?? new OciProcess());
        var config = new GuestConfig([.. process?.Args ?? []], WithPwd(env, cwd), rootfs, rootReadOnly, cwd, preopens ?? [], memoryLimit, outgoingHttp)
        {
            ConsoleSize = ConsoleSize(process?.ConsoleSize),
        };
        return (modulePath, config);
    }

    private static (List<KeyValuePair<string, string>> Env, string Cwd) EnvAndCwd(OciProcess process)
    {
        var env = (process.Env ?? []).Select(SplitEnv).ToList();
        var cwd = string.IsNullOrEmpty(process.Cwd) ? "/" : process.Cwd;
        if (!cwd.StartsWith('/'))
            throw new GuestPlanException(FailureCode.InvalidArgument, $"process.cwd must be absolute, got \"{cwd}\"");
        return (env, NormalizeGuestPath(cwd));
    }

    /// <summary>
    /// <c>process.consoleSize</c> as a window (columns, rows): absent or 0x0 is no size; a side past 65535 (what a
    /// <c>struct winsize</c> holds) is a spec error, not a wish.
    /// </summary>
    public static (ushort Columns, ushort Rows)? ConsoleSize(OciBox? box)
    {
        if (box is null || (box.Width == 0 && box.Height == 0))
            return null;
        if (box.Width > ushort.MaxValue || box.Height > ushort.MaxValue)
            throw new GuestPlanException(FailureCode.InvalidArgument, $"process.consoleSize {box.Width}x{box.Height} is out of range (at most 65535 either way)");
        return ((ushort)box.Width, (ushort)box.Height);
    }

    /// <summary>
    /// The environment a guest gets: <paramref name="env"/>, plus <c>PWD</c> naming the working directory when it is
    /// not <c>/</c> and the spec sets no <c>PWD</c> of its own. WASI preview 1 has no other way to tell a guest its
    /// working directory: Go's wasip1 port starts in <c>$PWD</c>, and a wasi-libc program can <c>chdir(getenv("PWD"))</c>.
    /// </summary>
    public static IReadOnlyList<KeyValuePair<string, string>> WithPwd(IReadOnlyList<KeyValuePair<string, string>> env, string cwd) =>
        cwd == "/" || env.Any(e => e.Key == "PWD") ? env : [.. env, new("PWD", cwd)];

    /// <summary>
    /// The host directory of the guest's working directory, through its mounts (a volume's mount point may be the
    /// working directory, as runc allows); throws <see cref="GuestPlanException"/> when there is no such directory.
    /// </summary>
    public static string HostWorkingDirectory(GuestConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var host = ResolveThroughMounts(config.RootfsPath, config.Preopens, config.Cwd);
        return Directory.Exists(host)
            ? host
            : throw new GuestPlanException(FailureCode.NotFound, $"working directory {RootfsPaths.Normalize(config.Cwd)} does not exist in the rootfs or its mounts");
    }

    /// <summary>Splits an OCI <c>KEY=VALUE</c> string on its first '='.</summary>
    public static KeyValuePair<string, string> SplitEnv(string entry)
    {
        var eq = entry.IndexOf('=');
        return eq < 0 ? new(entry, "") : new(entry[..eq], entry[(eq + 1)..]);
    }

    /// <summary>
    /// Resolves a guest path to a host path inside <paramref name="rootfs"/> as a chroot would: ".." stops at the
    /// root and absolute symlinks restart from it, so nothing resolves outside the rootfs.
    /// </summary>
    public static string ResolveInside(string rootfs, string guestPath)
    {
        try
        {
            return RootfsPaths.Resolve(rootfs, guestPath);
        }
        catch (IOException e)
        {
            throw new GuestPlanException(FailureCode.InvalidArgument, e.Message);
        }
    }

    private static string ResolveThroughMounts(string rootfs, IReadOnlyList<Preopen> mounts, string guestPath)
    {
        try
        {
            return GuestPaths.Resolve(rootfs, mounts, guestPath);
        }
        catch (IOException e)
        {
            throw new GuestPlanException(FailureCode.InvalidArgument, e.Message);
        }
    }

    private static string FindModule(string arg0, string cwd, IReadOnlyList<KeyValuePair<string, string>> env, string rootfs, IReadOnlyList<Preopen> mounts)
    {
        IEnumerable<string> candidates = arg0.Contains('/')
            ? [arg0.StartsWith('/') ? arg0 : cwd.TrimEnd('/') + "/" + arg0]
            : [cwd.TrimEnd('/') + "/" + arg0, .. PathDirs(env).Select(d => d.TrimEnd('/') + "/" + arg0)];
        foreach (var guestPath in candidates)
        {
            var host = ResolveThroughMounts(rootfs, mounts, guestPath);
            if (File.Exists(host))
                return host;
        }
        throw new GuestPlanException(FailureCode.NotFound, $"wasm module \"{arg0}\" not found in the container's rootfs");
    }

    private static bool HasWasmMagic(string path)
    {
        Span<byte> magic = stackalloc byte[4];
        try
        {
            using var file = File.OpenRead(path);
            return file.ReadAtLeast(magic, 4, throwOnEndOfStream: false) == 4 && magic.SequenceEqual("\0asm"u8);
        }
        catch (IOException)
        {
            return false;
        }
    }

    private static IEnumerable<string> PathDirs(IReadOnlyList<KeyValuePair<string, string>> env) =>
        env.Where(e => e.Key == "PATH").SelectMany(e => e.Value.Split(':', StringSplitOptions.RemoveEmptyEntries)).Where(d => d.StartsWith('/'));

    private static string NormalizeGuestPath(string path) => RootfsPaths.Normalize(path);
}

/// <summary>A process spec that cannot run as a wasm guest.</summary>
public sealed class GuestPlanException(FailureCode code, string message) : Exception(message)
{
    /// <summary>How the failure maps to the wire.</summary>
    public FailureCode Code { get; } = code;
}
