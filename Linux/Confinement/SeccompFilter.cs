using System.Collections.Immutable;

namespace WasmKata.Linux.Confinement;

/// <summary>What the kernel does with a system call the allow-list lacks.</summary>
public enum SeccompDefault
{
    /// <summary>The call fails with EPERM: the process lives on (production: a probe by the runtime stays harmless).</summary>
    Errno,

    /// <summary>The whole process dies of SIGSYS: what the specs use to find a call missing from the list.</summary>
    KillProcess,

    /// <summary>The call is allowed and logged by the kernel (audit or dmesg): for finding what a new version needs.</summary>
    Log,
}

/// <summary>
/// A classic BPF seccomp program: anything but x86-64 is killed, x32 calls are refused, each allowed call number
/// returns ALLOW, everything else gets <see cref="SeccompDefault"/>.
/// </summary>
public sealed class SeccompFilter
{
    // linux/filter.h and linux/seccomp.h
    private const ushort BpfLdWAbs = 0x20;     // BPF_LD | BPF_W | BPF_ABS
    private const ushort BpfJeqK = 0x15;       // BPF_JMP | BPF_JEQ | BPF_K
    private const ushort BpfJgeK = 0x35;       // BPF_JMP | BPF_JGE | BPF_K
    private const ushort BpfRetK = 0x06;       // BPF_RET | BPF_K
    private const uint RetKillProcess = 0x80000000;
    private const uint RetErrno = 0x00050000;
    private const uint RetLog = 0x7ffc0000;
    private const uint RetAllow = 0x7fff0000;
    private const uint AuditArchX86_64 = 0xC000003E;
    private const uint X32SyscallBit = 0x40000000;
    private const uint OffsetNr = 0;
    private const uint OffsetArch = 4;
    // seccomp_data.args[0], its low 32 bits (little-endian): socket(2)'s family.
    private const uint OffsetArg0 = 16;
    private const uint FlagTsync = 1;
    private const int SetModeFilter = 1;

    private SeccompFilter(ImmutableArray<int> allowed, SeccompDefault fallback, ImmutableArray<Interop.SockFilter> program)
    {
        Allowed = allowed;
        Default = fallback;
        Program = program;
    }

    /// <summary>The allowed call numbers, sorted.</summary>
    public ImmutableArray<int> Allowed { get; }

    /// <summary>What an unlisted call gets.</summary>
    public SeccompDefault Default { get; }

    /// <summary>How many BPF instructions the program has.</summary>
    public int Length => Program.Length;

    internal ImmutableArray<Interop.SockFilter> Program { get; }

    /// <summary>Builds the program for <paramref name="allowedNames"/> (x86-64 names; an unknown one throws).</summary>
    public static SeccompFilter Build(IEnumerable<string> allowedNames, SeccompDefault fallback) => Build(allowedNames, fallback, null);

    /// <summary>
    /// As above, with <c>socket(2)</c> decided by its family when <paramref name="socketFamilies"/> is given: those
    /// families are allowed, any other fails with EPERM whatever <paramref name="fallback"/> is (a clear error for the
    /// caller, never a kill); <c>socket</c> must then not be in <paramref name="allowedNames"/>.
    /// </summary>
    public static SeccompFilter Build(IEnumerable<string> allowedNames, SeccompDefault fallback, IReadOnlyList<int>? socketFamilies)
    {
        ArgumentNullException.ThrowIfNull(allowedNames);
        var allowed = allowedNames.Select(SyscallNumbers.Of).Distinct().Order().ToImmutableArray();
        var deny = fallback switch
        {
            SeccompDefault.Errno => RetErrno | Interop.Errno.EPERM,
            SeccompDefault.KillProcess => RetKillProcess,
            SeccompDefault.Log => RetLog,
            _ => throw new ArgumentOutOfRangeException(nameof(fallback)),
        };

        var program = ImmutableArray.CreateBuilder<Interop.SockFilter>(6 + (2 * allowed.Length));
        // A call made through another ABI (int 0x80, i386 numbers) would be checked against the wrong table.
        program.Add(Load(OffsetArch));
        program.Add(Jump(BpfJeqK, AuditArchX86_64, whenTrue: 1, whenFalse: 0));
        program.Add(Return(RetKillProcess));
        program.Add(Load(OffsetNr));
        // x32 calls are x86-64 numbers with bit 30 set: refuse them rather than match them.
        program.Add(Jump(BpfJgeK, X32SyscallBit, whenTrue: 0, whenFalse: 1));
        program.Add(Return(deny));
        if (socketFamilies is not null)
        {
            if (allowed.Contains(SyscallNumbers.Of("socket")))
                throw new ArgumentException("socket is decided by its family here: leave it off the list", nameof(allowedNames));
            var n = socketFamilies.Count;
            // Past this block (load, a compare per family, two returns) unless the call is socket.
            program.Add(Jump(BpfJeqK, (uint)SyscallNumbers.Of("socket"), whenTrue: 0, whenFalse: (byte)(n + 3)));
            program.Add(Load(OffsetArg0));
            for (var i = 0; i < n; i++)
                program.Add(Jump(BpfJeqK, (uint)socketFamilies[i], whenTrue: (byte)(n - i), whenFalse: 0));
            program.Add(Return(RetErrno | Interop.Errno.EPERM));
            program.Add(Return(RetAllow));
        }
        // One compare-and-return pair per call keeps every jump short (a BPF jump reaches 255 instructions at most).
        foreach (var number in allowed)
        {
            program.Add(Jump(BpfJeqK, (uint)number, whenTrue: 0, whenFalse: 1));
            program.Add(Return(RetAllow));
        }
        program.Add(Return(deny));
        return new SeccompFilter(allowed, fallback, program.ToImmutable());
    }

    /// <summary>
    /// Installs the filter on every thread of the process (SECCOMP_FILTER_FLAG_TSYNC). Needs no_new_privs (or
    /// CAP_SYS_ADMIN) on the calling thread; other threads get it from the kernel with the filter.
    /// </summary>
    public unsafe void InstallOnAllThreads()
    {
        var instructions = Program.ToArray();
        fixed (Interop.SockFilter* filter = instructions)
        {
            var fprog = new Interop.SockFprog { Length = (ushort)instructions.Length, Filter = filter };
            var result = Interop.Syscall3(Interop.SYS_seccomp, SetModeFilter, (nint)FlagTsync, (nint)(&fprog));
            if (result < 0)
                UnixErrors.ThrowLast("seccomp(SECCOMP_SET_MODE_FILTER, TSYNC)");
            // With TSYNC a positive result is the id of a thread that could not be synchronised.
            if (result > 0)
                throw new UnixException(Interop.Errno.EBUSY, $"seccomp: thread {result} has a filter of its own");
        }
    }

    /// <summary>Installs the filter on the calling thread only (for specs that must not confine their own process).</summary>
    public unsafe void InstallOnThisThread()
    {
        var instructions = Program.ToArray();
        fixed (Interop.SockFilter* filter = instructions)
        {
            var fprog = new Interop.SockFprog { Length = (ushort)instructions.Length, Filter = filter };
            if (Interop.Syscall3(Interop.SYS_seccomp, SetModeFilter, 0, (nint)(&fprog)) < 0)
                UnixErrors.ThrowLast("seccomp(SECCOMP_SET_MODE_FILTER)");
        }
    }

    private static Interop.SockFilter Load(uint offset) => new() { Code = BpfLdWAbs, K = offset };

    private static Interop.SockFilter Jump(ushort code, uint value, byte whenTrue, byte whenFalse) =>
        new() { Code = code, K = value, JumpTrue = whenTrue, JumpFalse = whenFalse };

    private static Interop.SockFilter Return(uint action) => new() { Code = BpfRetK, K = action };
}
