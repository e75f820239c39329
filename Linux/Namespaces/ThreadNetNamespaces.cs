namespace WasmKata.Linux.Namespaces;

/// <summary>
/// Which network namespace the threads of this process are in. A network namespace is per thread: a socket lands in
/// the namespace of the thread that creates it, so code that creates sockets on threads of its own (Wasmtime's
/// outgoing HTTP, on its Tokio runtime's threads) is checked here against the namespace it must use.
/// </summary>
public static class ThreadNetNamespaces
{
    /// <summary>The calling thread's network namespace, as the kernel names it (e.g. <c>net:[4026531840]</c>).</summary>
    public static string Current() => Of("/proc/thread-self/ns/net")
        ?? throw new IOException("cannot read /proc/thread-self/ns/net: the thread's network namespace");

    /// <summary>
    /// Threads of this process whose name (<c>comm</c>, at most 15 bytes) is <paramref name="comm"/>, with the network
    /// namespace each is in; threads that end while being read are left out.
    /// </summary>
    public static IReadOnlyList<(int Tid, string Namespace)> ThreadsNamed(string comm)
    {
        ArgumentException.ThrowIfNullOrEmpty(comm);
        var found = new List<(int, string)>();
        foreach (var task in Directory.EnumerateDirectories("/proc/self/task"))
        {
            if (!int.TryParse(Path.GetFileName(task), out var tid))
                continue;
            string name;
            try
            {
                name = File.ReadAllText(Path.Combine(task, "comm")).TrimEnd('\n');
            }
            catch (IOException)
            {
                continue;
            }
            if (name == comm && Of(Path.Combine(task, "ns", "net")) is { } ns)
                found.Add((tid, ns));
        }
        return found;
    }

    private static string? Of(string link)
    {
        try
        {
            return new FileInfo(link).LinkTarget;
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }
}
