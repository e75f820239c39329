using WasmKata.Core.Plan;
using Wasmtime;

namespace WasmKata.Engine;

// What the guest sees of the host through WASI: its args and environment, the rootfs and other directories, and
// stdio. Wasmtime is told only what it can do better than we can; stdin goes through our own fd_read.
public sealed partial class Guest
{
    private WasiConfiguration BuildWasi(bool forComponent = false)
    {
        if (!Directory.Exists(_config.RootfsPath))
            throw Fail($"rootfs {_config.RootfsPath} is not a directory");
        var wasi = new WasiConfiguration()
            .WithArgs(_config.Args)
            .WithEnvironmentVariables(_config.Env.Select(e => (e.Key, e.Value)))
            .WithPreopenedDirectory(_config.RootfsPath, "/", !_config.RootfsReadOnly);

        // The working directory is checked, not preopened: a preopen named "." ties with "/" in wasi-libc (which makes
        // every preopen name absolute against its own cwd, "/") and, coming later, would win every absolute path. The
        // guest learns its working directory from PWD (GuestPlan.WithPwd).
        try
        {
            GuestPlan.HostWorkingDirectory(_config);
        }
        catch (GuestPlanException e)
        {
            throw Fail(e.Message);
        }
        foreach (var preopen in _config.Preopens)
        {
            if (!Directory.Exists(preopen.HostPath))
                throw Fail($"directory {preopen.HostPath} for {preopen.GuestPath} does not exist");
            wasi.WithPreopenedDirectory(preopen.HostPath, preopen.GuestPath, !preopen.ReadOnly);
        }

        // Wasmtime would read stdin ahead on a thread of its own, one per guest, for good: our fd_read reads the
        // pipe on the guest's thread when the guest asks.
        if (!forComponent && _stdio.StdinPath is { } stdin)
            _context.Stdin = new FileStream(stdin, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, bufferSize: 0);
        if (_stdio.Stdout is { } stdout)
            wasi.WithStandardOutputCallback(Forward(stdout, "stdout"));
        if (_stdio.Stderr is { } stderr)
            wasi.WithStandardErrorCallback(Forward(stderr, "stderr"));
        return wasi;
    }

    private WasiOutputCallback Forward(IGuestOutput output, string stream) => data =>
    {
        // Wasmtime closes the stream for good if this throws, so nothing may escape.
        if (_context.KillRequested)
            return;
        try
        {
            output.Write(data);
        }
        catch (Exception e)
        {
            _log.Warning(e, "{Module}: {Stream} sink failed; {Bytes} bytes dropped", Module.Path, stream, data.Length);
        }
    };
}
