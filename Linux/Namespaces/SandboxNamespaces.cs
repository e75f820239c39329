using System.Text;

namespace WasmKata.Linux.Namespaces;

/// <summary>One namespace a sandbox wants: created when <paramref name="Path"/> is empty, joined otherwise.</summary>
public sealed record NamespaceRequest(string Type, string Path);

/// <summary>
/// The UTS, IPC and network namespaces a sandbox's guests share. Guests are threads of the shim, and these three
/// namespace kinds are per thread: they are created on a throw-away thread (so the shim's own threads keep the
/// host's), held open as fds, and every guest thread enters them before it runs. Other kinds (pid, mount, user,
/// cgroup) have no meaning for a WASI guest and are left alone.
/// </summary>
public sealed class SandboxNamespaces : IDisposable
{
    private static readonly Dictionary<string, (int Flag, string ProcName)> Kinds = new()
    {
        ["uts"] = (Interop.CLONE_NEWUTS, "uts"),
        ["ipc"] = (Interop.CLONE_NEWIPC, "ipc"),
        ["network"] = (Interop.CLONE_NEWNET, "net"),
    };

    private readonly List<(int Flag, SafeFdHandle Fd)> _namespaces;

    private SandboxNamespaces(List<(int, SafeFdHandle)> namespaces) => _namespaces = namespaces;

    /// <summary>No namespaces at all: guests stay in the shim's.</summary>
    public static SandboxNamespaces None { get; } = new([]);

    /// <summary>The kinds held, e.g. "uts", "net" (for logs and specs).</summary>
    public IReadOnlyList<int> Flags => _namespaces.Select(n => n.Flag).ToList();

    /// <summary>
    /// Creates or joins the namespaces of <paramref name="requests"/>; a created UTS namespace gets
    /// <paramref name="hostname"/>. Paths for which <paramref name="ignorePath"/> is true (e.g. ones pointing at the
    /// shim itself, which CRI writes for a pause process that does not exist) are treated as "create".
    /// </summary>
    public static SandboxNamespaces Create(IEnumerable<NamespaceRequest> requests, string? hostname, Func<string, bool>? ignorePath = null)
    {
        var wanted = requests.Where(r => Kinds.ContainsKey(r.Type)).ToList();
        if (wanted.Count == 0)
            return None;

        List<(int, SafeFdHandle)>? result = null;
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                result = CreateOnThisThread(wanted, hostname, ignorePath ?? (_ => false));
            }
            catch (Exception e)
            {
                failure = e;
            }
        }, 256 * 1024)
        { IsBackground = true, Name = "namespaces" };
        thread.Start();
        thread.Join();
        return failure is null ? new SandboxNamespaces(result!) : throw failure;
    }

    /// <summary>The namespace descriptors, for a guest host that enters them itself (setns with type 0).</summary>
    internal IReadOnlyList<SafeFdHandle> Descriptors => _namespaces.Select(n => n.Fd).ToList();

    /// <summary>Moves the calling thread (a guest's) into the sandbox's namespaces.</summary>
    public void Enter()
    {
        foreach (var (flag, fd) in _namespaces)
        {
            if (Interop.SetNs(fd, flag) != 0)
                UnixErrors.ThrowLast("setns");
        }
    }

    public void Dispose()
    {
        foreach (var (_, fd) in _namespaces)
            fd.Dispose();
    }

    private static List<(int, SafeFdHandle)> CreateOnThisThread(List<NamespaceRequest> wanted, string? hostname, Func<string, bool> ignorePath)
    {
        var joined = new List<(int, SafeFdHandle)>();
        var create = 0;
        foreach (var request in wanted)
        {
            var (flag, _) = Kinds[request.Type];
            if (request.Path.Length > 0 && !ignorePath(request.Path))
            {
                var fd = Interop.Open(request.Path, Interop.O_RDONLY | Interop.O_CLOEXEC, 0);
                if (fd.IsInvalid)
                    UnixErrors.ThrowLast($"open {request.Type} namespace", request.Path);

                joined.Add((flag, fd));
            }
            else
            {
                create |= flag;
            }
        }

        if (create != 0 && Interop.Unshare(create) != 0)
            UnixErrors.ThrowLast("unshare");

        if ((create & Interop.CLONE_NEWUTS) != 0 && !string.IsNullOrEmpty(hostname))
            SetHostname(hostname);

        foreach (var (_, (flag, procName)) in Kinds)
        {
            if ((create & flag) == 0)
                continue;

            var path = $"/proc/thread-self/ns/{procName}";
            var fd = Interop.Open(path, Interop.O_RDONLY | Interop.O_CLOEXEC, 0);
            if (fd.IsInvalid)
                UnixErrors.ThrowLast("open", path);

            joined.Add((flag, fd));
        }

        return joined;
    }

    private static unsafe void SetHostname(string hostname)
    {
        var bytes = Encoding.UTF8.GetBytes(hostname);
        fixed (byte* p = bytes)
        {
            if (Interop.SetHostname(p, (nuint)bytes.Length) != 0)
                UnixErrors.ThrowLast("sethostname");
        }
    }
}
