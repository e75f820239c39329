using WasmKata.Linux.Mounts;

namespace WasmKata.Specs.Linux;

/// <summary>A fresh directory under /tmp; on dispose it detaches anything still mounted inside before deleting.</summary>
internal sealed class TempDirectory : IDisposable
{
    internal TempDirectory()
    {
        Path = System.IO.Path.Combine("/tmp", "wk-spec-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(Path);
    }

    internal string Path { get; }

    internal string Sub(string name) => System.IO.Path.Combine(Path, name);

    internal string CreateSub(string name) => Directory.CreateDirectory(Sub(name)).FullName;

    public void Dispose()
    {
        // Deleting recursively through a leftover bind mount would delete the bind source's files.
        var prefix = Path + "/";
        foreach (var mountPoint in MountInfo.ReadMountPoints().Where(m => m.StartsWith(prefix, StringComparison.Ordinal)).Reverse())
            Mounts.UnmountAll(mountPoint);

        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
