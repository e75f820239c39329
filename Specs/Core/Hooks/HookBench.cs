using System.Text;
using WasmKata.Core.Hooks;
using WasmKata.Core.Oci;
using WasmKata.Specs.Linux;

namespace WasmKata.Specs.Core.Hooks;

/// <summary>A temp directory to write hook scripts into, plus the state and helpers the hook specs share.</summary>
internal sealed class HookBench : IDisposable
{
    internal const string Path = "PATH=/usr/bin:/bin";

    private readonly TempDirectory _dir = new();

    internal HookBench()
    {
        Bundle = _dir.CreateSub("bundle");
    }

    internal string Bundle { get; }

    internal string Dir => _dir.Path;

    internal OciState State(OciStatus status = OciStatus.Creating, int pid = 4242) => new()
    {
        Id = "hooked-" + Guid.NewGuid().ToString("N")[..8],
        Status = status,
        Pid = pid,
        Bundle = Bundle,
        Annotations = new Dictionary<string, string> { ["io.example/key"] = "value with spaces", ["empty"] = "" },
    };

    internal string File(string name) => _dir.Sub(name);

    /// <summary>Writes an executable /bin/sh script; <c>$DIR</c> in <paramref name="body"/> is the bench directory.</summary>
    internal string Script(string name, string body)
    {
        var path = _dir.Sub(name);
        System.IO.File.WriteAllText(path, "#!/bin/sh\n" + body.Replace("$DIR", _dir.Path, StringComparison.Ordinal) + "\n");
        System.IO.File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return path;
    }

    /// <summary>A hook running <paramref name="path"/> with PATH set and nothing else, as most specs need.</summary>
    internal static OciHook Hook(string path, int? timeout = null, params string[] args) =>
        new() { Path = path, Args = args.Length == 0 ? null : args, Env = [Path], Timeout = timeout };

    internal string Read(string name) => System.IO.File.ReadAllText(_dir.Sub(name));

    /// <summary>Waits until a running hook whose command line contains <paramref name="marker"/> shows up.</summary>
    internal static async Task<int> LiveHookAsync(string marker)
    {
        var deadline = DateTime.UtcNow + Await.Long;
        while (DateTime.UtcNow < deadline)
        {
            foreach (var pid in HookRunner.LiveChildren)
            {
                var cmdline = ReadProc(pid, "cmdline");
                if (cmdline is not null && cmdline.Contains(marker, StringComparison.Ordinal))
                    return pid;
            }

            await Task.Delay(10);
        }

        throw new TimeoutException($"no live hook with '{marker}' in its command line");
    }

    /// <summary>A /proc/[pid] file as text (NULs kept), or null when the process is gone.</summary>
    internal static string? ReadProc(int pid, string file)
    {
        try
        {
            return Encoding.UTF8.GetString(System.IO.File.ReadAllBytes($"/proc/{pid}/{file}"));
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>The state letter of /proc/[pid]/stat, or null once the pid is gone.</summary>
    internal static char? StateOf(int pid)
    {
        var stat = ReadProc(pid, "stat");
        return stat is null ? null : stat[stat.LastIndexOf(')') + 2];
    }

    public void Dispose() => _dir.Dispose();
}
