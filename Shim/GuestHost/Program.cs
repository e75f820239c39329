using WasmKata.Shim.GuestHost;

// wasmkata-guest-host guest-host FLAGS -- GUEST ARGS: one guest in a confined process (docs/guest-host.md), spawned by
// the daemon. The word guest-host comes first as it does for the shim's own guest-host mode: one command line for both.
if (args.Length > 0 && args[0] == "guest-host")
    return GuestHostAction.Run(args[1..]);
Console.Error.WriteLine("usage: wasmkata-guest-host guest-host -uid U -gid G -rootfs-fd N -module-fd N -report-fd N [FLAGS] -- GUEST [ARGS]");
Console.Error.WriteLine("The daemon (containerd-shim-wasmkata-v2) starts this for each guest when guest_isolation = \"process\".");
return 2;
