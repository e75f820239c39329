using System.Diagnostics;
using System.Text;
using WasmKata.Specs.Linux;
using Xunit;

namespace WasmKata.Specs.EndToEnd.GuestHost;

/// <summary>
/// The escape-attempt proof: out/test-bin/wasmkata-escape-probe (test-only, never in out/bin) confines itself exactly
/// as the shim's guest-host mode does (Linux/Confinement, the same seccomp list) and then makes the calls an escaped
/// guest would make, against this run's real containerd. Every one must be refused, each with the errno listed here.
/// </summary>
[Collection(EndToEndCollection.Name)]
[Trait("Requires", "root")]
public sealed class GuestHostEscapeSpec(ContainerdFixture containerd) : IDisposable
{
    private readonly TempDirectory _temp = new();

    // What each attempt gets, and what refuses it: seccomp answers EPERM for calls off the list; Landlock answers
    // EACCES for files outside the rootfs; the non-root uid and Landlock's signal scope refuse tgkill with EPERM.
    public static TheoryData<string, string> Expected => new()
    {
        { "read /etc/shadow", "EACCES" },
        { "open another pod's rootfs", "EACCES" },
        // This kernel (6.18, Firecracker) is built without CONFIG_MAGIC_SYSRQ: there is no file to refuse.
        { "write /proc/sysrq-trigger", File.Exists("/proc/sysrq-trigger") ? "EACCES" : "ENOENT" },
        { "write /proc/sys/kernel/core_pattern", "EACCES" },
        { "create a file in the host's /tmp", "EACCES" },
        { "open /proc/1/root", "EACCES" },
        { "mount tmpfs on /tmp", "EPERM" },
        { "ptrace containerd", "EPERM" },
        { "kill containerd", "EPERM" },
        { "tgkill containerd", "EPERM" },
        { "setuid(0)", "EPERM" },
        { "chroot /", "EPERM" },
        { "init_module", "EPERM" },
        { "finit_module", "EPERM" },
        { "unshare a user namespace", "EPERM" },
        { "open a raw socket", "EPERM" },
        { "connect to containerd's socket", "socket: EPERM" },
        { "execve /bin/sh", "EPERM" },
    };

    private static string Probe => Path.Combine(ShimUnderTest.ShimDir, "..", "test-bin", "wasmkata-escape-probe");

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task Every_escape_attempt_must_be_refused_with_its_errno()
    {
        var attempts = await RunProbeAsync();
        var report = string.Join('\n', attempts.Select(a => $"{a.Key}: {a.Value}"));
        foreach (var expected in Expected)
        {
            var name = (string)expected[0];
            Assert.True(attempts.TryGetValue(name, out var result), $"attempt \"{name}\" was not made:\n{report}");
            Assert.True((string)expected[1] == result, $"{name}: expected {expected[1]}, got {result}\n{report}");
        }
        Assert.Equal(Expected.Count, attempts.Count);
        // containerd is alive and still answers.
        Assert.True(ContainerdFixture.IsRunning(ContainerdPid()));
        Assert.Equal(0, (await containerd.Ctr.RunAsync(["version"])).ExitCode);
    }

    [Fact]
    public async Task The_shipped_programs_must_not_contain_the_escape_attempts()
    {
        // NativeAOT keeps string literals as UTF-16; look for both encodings.
        byte[][] markers = [Encoding.Unicode.GetBytes("wasmkata-escape-attempts"), Encoding.UTF8.GetBytes("wasmkata-escape-attempts")];
        var probe = File.ReadAllBytes(Probe);
        Assert.True(markers.Any(m => probe.AsSpan().IndexOf(m) >= 0), "the probe must carry the marker, or this check proves nothing");
        // Both shipped programs that run guest hosts: the guest host itself and the shim (its guest-host mode).
        foreach (var program in new[] { GuestHostRun.GuestHost, GuestHostRun.Shim })
        {
            var bytes = File.ReadAllBytes(program);
            Assert.True(markers.All(m => bytes.AsSpan().IndexOf(m) < 0), $"the release binary {program} contains the escape attempts");
        }
        Assert.False(File.Exists("/tmp/wasmkata-escaped"));
        Assert.False(File.Exists(Path.Combine(ShimUnderTest.ShimDir, "wasmkata-escape-probe")));
        // Nor does either answer to the probe's command line with anything but a refusal.
        var rootfs = _temp.CreateSub("rootfs");
        foreach (var program in new[] { GuestHostRun.GuestHost, GuestHostRun.Shim })
        {
            using var run = GuestHostRun.Start(program, rootfs, GuestHostRun.Guest("hello"), _temp.Sub("report"),
                ["-other-rootfs", "/tmp", "-victim-pid", "1"], ["hello"]);
            var result = await run.WaitAsync();
            Assert.True(result.ExitCode == 2, result.Describe());
            Assert.Contains("unknown guest-host flag \"-other-rootfs\"", result.Stderr, StringComparison.Ordinal);
        }
    }

    private async Task<Dictionary<string, string>> RunProbeAsync()
    {
        var rootfs = _temp.CreateSub("rootfs");
        var other = _temp.CreateSub("other-pod-rootfs");
        File.WriteAllText(Path.Combine(other, "secret"), "another tenant's data");
        File.SetUnixFileMode(_temp.Path, GuestHostRun.Rwxrxrx);
        // Readable by anyone as far as file modes go: only Landlock keeps the probe out.
        File.SetUnixFileMode(other, GuestHostRun.Rwxrxrx);
        Assert.Equal(0, Libc.Chown(rootfs, GuestHostRun.Uid, GuestHostRun.Uid));
        Assert.Equal(0, Libc.Chown(other, GuestHostRun.Uid + 1, GuestHostRun.Uid + 1));
        var module = Path.Combine(rootfs, "app.wasm");
        File.Copy(GuestHostRun.Guest("hello"), module);

        var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        string[] argv =
        [
            "-c", "exec 3<\"$1\" 4<\"$2\"; shift 2; exec \"$@\"", "escape-spec", rootfs, module, Probe, "guest-host",
            "-uid", $"{GuestHostRun.Uid}", "-gid", $"{GuestHostRun.Uid}", "-rootfs-fd", "3", "-module-fd", "4",
            "-other-rootfs", other, "-victim-pid", $"{ContainerdPid()}", "-containerd-socket", Path.Combine(containerd.RunDir, "containerd.sock"),
        ];
        foreach (var arg in argv)
            start.ArgumentList.Add(arg);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await process.WaitForExitAsync(cancel.Token);
        var output = await stdout;
        Assert.True(process.ExitCode == 0, $"probe exited {process.ExitCode}\n{output}\n{await stderr}");
        var header = output.Split('\n')[0];
        Assert.StartsWith("# wasmkata-escape-attempts", header, StringComparison.Ordinal);
        Assert.Contains("NoNewPrivs 1 Seccomp 2", header, StringComparison.Ordinal);
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1)
            .Select(line => line.Split('\t', 2))
            .ToDictionary(parts => parts[0], parts => parts[1], StringComparer.Ordinal);
    }

    private int ContainerdPid() => int.Parse(File.ReadAllText(Path.Combine(containerd.RunDir, "containerd.pid")).Trim(), System.Globalization.CultureInfo.InvariantCulture);
}
