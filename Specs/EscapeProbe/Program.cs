using System.Globalization;
using WasmKata.EscapeProbe;
using WasmKata.Linux.Confinement;

// wasmkata-escape-probe guest-host -uid U -gid G -rootfs-fd 3 -module-fd 4 -other-rootfs DIR -victim-pid PID
//     -containerd-socket PATH: stage 1 confines as the shim's guest host does and execs stage 2, which installs the
// same seccomp filter and prints one "attempt<TAB>result" line per escape attempt (result: an errno name, or "ok").
if (args.Length == 0 || args[0] != "guest-host")
{
    Console.Error.WriteLine("usage: wasmkata-escape-probe guest-host -uid U -gid G -rootfs-fd N -module-fd N -other-rootfs DIR -victim-pid PID -containerd-socket PATH");
    return 2;
}
var flags = new Dictionary<string, string>(StringComparer.Ordinal);
var stage2 = false;
for (var i = 1; i < args.Length; i++)
{
    if (args[i] == "-stage2")
        stage2 = true;
    else if (i + 1 < args.Length)
        flags[args[i]] = args[++i];
}
uint Id(string name) => uint.Parse(flags[name], CultureInfo.InvariantCulture);
int Fd(string name) => int.Parse(flags[name], CultureInfo.InvariantCulture);

try
{
    if (!stage2)
    {
        GuestHostConfinement.ConfineAndExec(Id("-uid"), Id("-gid"), Fd("-rootfs-fd"), false, Fd("-module-fd"), [],
            program => [program, .. args, "-stage2"]);
        return 255;
    }
    var status = GuestHostConfinement.FinishAfterExec(SeccompFilter.Build(GuestHostSyscalls.All, SeccompDefault.Errno));
    Console.WriteLine($"# {EscapeAttempts.Marker}: {status}");
    foreach (var (name, result) in EscapeAttempts.RunAll(flags["-other-rootfs"], int.Parse(flags["-victim-pid"], CultureInfo.InvariantCulture), flags["-containerd-socket"]))
        Console.WriteLine($"{name}\t{result}");
    return 0;
}
catch (Exception e) when (e is IOException or InvalidOperationException or PlatformNotSupportedException or KeyNotFoundException or FormatException)
{
    Console.Error.WriteLine($"wasmkata-escape-probe: {e.Message}");
    return 255;
}
