using System.Runtime.InteropServices;
using WasmKata.Linux.Confinement;
using Xunit;

namespace WasmKata.Specs.Linux.Confinement;

public sealed class SeccompFilterSpec
{
    private const int EPERM = 1;

    [Fact]
    public void Build_must_refuse_a_name_that_is_no_x86_64_system_call()
    {
        var e = Assert.Throws<ArgumentException>(() => SeccompFilter.Build(["read", "no_such_call"], SeccompDefault.Errno));
        Assert.Contains("no_such_call", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Build_must_check_the_arch_first_and_end_in_the_default()
    {
        var filter = SeccompFilter.Build(["write", "read", "read"], SeccompDefault.KillProcess);
        Assert.Equal([0, 1], filter.Allowed.ToArray());
        var program = filter.Program;
        Assert.Equal(4u, program[0].K); // load seccomp_data.arch
        Assert.Equal(0xC000003Eu, program[1].K); // AUDIT_ARCH_X86_64
        Assert.Equal(0x80000000u, program[2].K); // any other arch: kill
        Assert.Equal(6 + (2 * 2) + 1, filter.Length);
        Assert.Equal(0x80000000u, program[^1].K);
        Assert.Equal(0x00050001u, SeccompFilter.Build(["read"], SeccompDefault.Errno).Program[^1].K);
    }

    [Fact]
    public void The_guest_host_list_must_name_only_known_calls_and_none_that_reach_out_of_the_box()
    {
        var filter = SeccompFilter.Build(GuestHostSyscalls.All, SeccompDefault.Errno);
        Assert.Equal(GuestHostSyscalls.All.Distinct().Count(), filter.Allowed.Length);
        string[] never =
        [
            "execve", "execveat", "fork", "vfork", "ptrace", "process_vm_writev", "mount", "umount2", "pivot_root", "chroot",
            "unshare", "setns", "setuid", "setresuid", "setgroups", "capset", "socket", "socketpair", "connect", "bind",
            "kill", "init_module", "finit_module", "bpf", "perf_event_open", "keyctl", "userfaultfd", "io_uring_setup",
            "kexec_load", "reboot", "chown", "fchown", "mknod", "open_by_handle_at", "move_mount", "fsopen", "open_tree",
        ];
        Assert.Empty(never.Intersect(GuestHostSyscalls.All));
    }

    [Fact]
    [Trait("Requires", "kernel")]
    public void A_filter_must_refuse_an_unlisted_call_with_EPERM_on_its_thread_only()
    {
        var allowed = GuestHostSyscalls.All.Where(name => name != "getppid").ToArray();
        var (result, errno, seccomp) = OwnThread.Run(() =>
        {
            NoNewPrivs.SetOnThisThread();
            SeccompFilter.Build(allowed, SeccompDefault.Errno).InstallOnThisThread();
            var r = Libc.GetParentPid();
            var e = Marshal.GetLastPInvokeError();
            return (r, e, ConfinementStatus.Read(OwnThread.StatusPath).Seccomp);
        });
        Assert.Equal(-1, result);
        Assert.Equal(EPERM, errno);
        Assert.Equal(2, seccomp);
        // The spec's own threads were not touched.
        Assert.True(Libc.GetParentPid() > 0);
        Assert.Equal(0, ConfinementStatus.Read("/proc/self/status").Seccomp);
    }

    [Fact]
    [Trait("Requires", "kernel")]
    public void A_filter_must_let_listed_calls_through()
    {
        var (pid, seccomp) = OwnThread.Run(() =>
        {
            NoNewPrivs.SetOnThisThread();
            SeccompFilter.Build(GuestHostSyscalls.All, SeccompDefault.Errno).InstallOnThisThread();
            return (Libc.GetParentPid(), ConfinementStatus.Read(OwnThread.StatusPath).Seccomp);
        });
        Assert.True(pid > 0);
        Assert.Equal(2, seccomp);
    }

    [Fact]
    [Trait("Requires", "kernel")]
    public void Socket_must_go_by_its_family_and_refuse_the_others_with_EPERM_even_where_unlisted_calls_kill()
    {
        // The outgoing-HTTP guest host's list under the specs' kill-on-unlisted default: inet is allowed, unix and
        // netlink fail with EPERM (glibc asks nscd over unix first: a kill there would end every request's guest).
        var (inet, inet6, unix, netlink, seccomp) = OwnThread.Run(() =>
        {
            NoNewPrivs.SetOnThisThread();
            SeccompFilter.Build([.. GuestHostSyscalls.All, .. GuestHostSyscalls.OutgoingNetwork], SeccompDefault.KillProcess,
                GuestHostSyscalls.OutgoingSocketFamilies).InstallOnThisThread();
            return (Libc.TrySocket(2), Libc.TrySocket(10), Libc.TrySocket(1), Libc.TrySocket(16), ConfinementStatus.Read(OwnThread.StatusPath).Seccomp);
        });
        Assert.Equal((0, 0, EPERM, EPERM, 2), (inet, inet6, unix, netlink, seccomp));

        // Without HTTP no family is allowed, and the refusal is still EPERM, not the default's kill.
        var refused = OwnThread.Run(() =>
        {
            NoNewPrivs.SetOnThisThread();
            SeccompFilter.Build(GuestHostSyscalls.All, SeccompDefault.KillProcess, []).InstallOnThisThread();
            return Libc.TrySocket(2);
        });
        Assert.Equal(EPERM, refused);
        Assert.Throws<ArgumentException>(() => SeccompFilter.Build(["socket"], SeccompDefault.Errno, [2]));
    }
}
