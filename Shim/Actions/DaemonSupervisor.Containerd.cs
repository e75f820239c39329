namespace WasmKata.Shim.Actions;

// Learning that containerd is gone: it removed every bundle of ours and nobody is connected any more.
internal sealed partial class DaemonSupervisor
{
    /// <summary>No connection and every bundle of our containers removed: containerd is done with us.</summary>
    private void LookForContainerd()
    {
        if (_lifecycle.State != DaemonState.Serving || _lifecycle.Connections > 0 || _bundles.IsEmpty)
            return;
        if (_bundles.Values.All(b => !Directory.Exists(b)))
            Terminate("containerd is gone: no connection and every bundle removed");
    }

    /// <summary>Watches the directory holding the bundle: a removed bundle with nobody connected means containerd is done.</summary>
    private void WatchBundles(string bundle)
    {
        var parent = bundle.Length > 0 ? Path.GetDirectoryName(bundle) : null;
        if (parent is null || !Directory.Exists(parent))
            return;
        try
        {
            _bundleWatcher = new FileSystemWatcher(parent) { NotifyFilter = NotifyFilters.DirectoryName, IncludeSubdirectories = false };
            _bundleWatcher.Deleted += (_, e) =>
            {
                if (_bundles.Values.Contains(e.FullPath) && _lifecycle.Connections == 0)
                    LookForContainerd();
            };
            _bundleWatcher.EnableRaisingEvents = true;
        }
        catch (Exception e) when (e is IOException or ArgumentException or PlatformNotSupportedException)
        {
            _log.Warning("cannot watch {Directory} for removed bundles: {Error}", parent, e.Message);
            _bundleWatcher?.Dispose();
            _bundleWatcher = null;
        }
    }
}
