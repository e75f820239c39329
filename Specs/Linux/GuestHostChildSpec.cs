using System.Text;
using WasmKata.Linux.Io;
using WasmKata.Linux.Namespaces;
using WasmKata.Linux.Processes;
using WasmKata.Specs.Core.Hooks;
using Xunit;

namespace WasmKata.Specs.Linux;

/// <summary>
/// The spawn of a guest host on the real kernel, with bash standing in for the shim: every descriptor lands on its
/// number and nothing else is inherited, the pipes carry what they should, and the exit comes from waitid.
/// </summary>
[Collection(SerialHooksCollection.Name)] // hooks hold pidfds too: counting ours needs them quiet
public sealed class GuestHostChildSpec : IDisposable
{
    private readonly TempDirectory _temp = new();
    private readonly string _rootfs;
    private readonly string _module;
    private readonly string _data;

    public GuestHostChildSpec()
    {
        _rootfs = _temp.CreateSub("rootfs");
        _data = _temp.CreateSub("data");
        _module = _temp.Sub("app.wasm");
        File.WriteAllText(_module, "module bytes");
    }

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void Each_descriptor_must_land_on_its_number_and_nothing_else_must_be_inherited()
    {
        using var stdin = new GuestInputPipe();
        var files = new GuestHostFiles(_rootfs, _module, stdin, Stdout: true, Stderr: true, SharedOutput: false, [_data], SandboxNamespaces.None);
        // Prints where fds 5, 6 and 9 lead, the module through fd 6, and the list of open fds, on the stdout pipe (fd 7).
        const string script = "for fd in 5 9; do readlink /proc/self/fd/$fd; done >&7; cat <&6 >&7; echo >&7; ls /proc/self/fd | sort -n | tr '\\n' ' ' >&7";

        using var child = GuestHostChild.Spawn("/bin/bash", files, fds =>
        {
            Assert.Equal([GuestHostFdNumbers.FirstExtra], fds.PreopenFds);
            return ["bash", "-c", script];
        });
        stdin.ReleaseReadEnd();
        var output = new StreamReader(child.Stdout!, Encoding.UTF8).ReadToEnd();
        var exit = child.WaitForExit();

        Assert.Equal(0, exit.ExitCode);
        var lines = output.Split('\n');
        Assert.Equal(_rootfs, lines[0]);
        Assert.Equal(_data, lines[1]);
        Assert.Equal("module bytes", lines[2]);
        // 0-9 are ours; the one more is the directory ls reads /proc/self/fd through.
        var open = lines[3].Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToList();
        Assert.Equal(Enumerable.Range(0, 10), open.Take(10));
        Assert.True(open.Count == 11, $"open descriptors: {lines[3]}");
    }

    [Fact]
    public void Report_and_control_must_be_pipes_both_ways_and_a_signal_must_show_in_the_exit()
    {
        var files = new GuestHostFiles(_rootfs, _module, null, Stdout: false, Stderr: false, SharedOutput: false, [], SandboxNamespaces.None);
        var pidfdsBefore = Pidfds();
        var child = GuestHostChild.Spawn("/bin/bash", files, _ => ["bash", "-c", "read line <&4; echo \"got $line\" >&3; exec sleep 60"]);

        child.Control.Write("start\n"u8);
        var report = new StreamReader(child.Report, Encoding.UTF8).ReadLine();
        Assert.Equal("got start", report);
        Assert.True(child.Signal(9));
        var exit = child.WaitForExit();

        Assert.Equal(new ChildExit(null, 9), exit);
        Assert.False(child.Signal(9), "a reaped guest host must not be signalled");
        child.Dispose();
        Assert.True(Pidfds() <= pidfdsBefore, "the reaped guest host's pidfd was not closed");
    }

    // This process's pidfds (other specs may hold some of their own, never more after than before ours).
    private static int Pidfds() => Directory.GetFiles("/proc/self/fd")
        .Count(fd => new FileInfo(fd).LinkTarget is "anon_inode:[pidfd]");

    [Fact]
    public void A_missing_rootfs_must_fail_the_spawn_and_leave_no_child()
    {
        var files = new GuestHostFiles(_temp.Sub("absent"), _module, null, Stdout: true, Stderr: true, SharedOutput: false, [], SandboxNamespaces.None);

        var e = Assert.ThrowsAny<IOException>(() => GuestHostChild.Spawn("/bin/bash", files, _ => ["bash", "-c", "exit 0"]));

        Assert.Contains("absent", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_guest_host_program_must_fail_the_spawn_saying_what_to_install()
    {
        var files = new GuestHostFiles(_rootfs, _module, null, Stdout: true, Stderr: true, SharedOutput: false, [], SandboxNamespaces.None);
        var program = GuestHostChild.ProgramBeside(_temp.Sub("containerd-shim-wasmkata-v2"));
        var before = Pidfds();

        var e = Assert.Throws<FileNotFoundException>(() => GuestHostChild.Spawn(program, files, _ => ["wasmkata-guest-host"]));

        Assert.Equal(Path.Combine(_temp.Path, "wasmkata-guest-host"), program);
        Assert.Contains($"{program} is missing", e.Message, StringComparison.Ordinal);
        Assert.Contains("installed beside the shim", e.Message, StringComparison.Ordinal);
        Assert.Equal(before, Pidfds());
    }
}
