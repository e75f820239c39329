namespace WasmKata.Config;

/// <summary>The shim's settings from <c>configuration.toml</c>, validated; the defaults when no file is found.</summary>
public sealed record ShimConfig
{
    /// <summary>The one runtime this shim implements (Kata's <c>[runtime] name</c>).</summary>
    public const string WasmRuntime = "wasm_container";

    /// <summary>The file these settings came from, or null for the built-in defaults.</summary>
    public string? SourcePath { get; init; }

    /// <summary><c>[runtime] name</c>.</summary>
    public string RuntimeName { get; init; } = WasmRuntime;

    /// <summary><c>[wasmkata] log_level</c>: debug, info, warn or error.</summary>
    public string LogLevel { get; init; } = "info";

    /// <summary><c>[wasmkata] cgroup_driver</c>: cgroupfs or systemd.</summary>
    public string CgroupDriver { get; init; } = "cgroupfs";

    /// <summary><c>[wasmkata] systemd_address</c>: the D-Bus address of systemd for the systemd driver; empty tries
    /// systemd's private socket, then the system bus.</summary>
    public string SystemdAddress { get; init; } = "";

    /// <summary><c>[wasmkata] sandbox_memory_overhead_mb</c>: added to the sandbox's memory limit for its host cgroup, which
    /// holds the whole shim (runtime, engine, buffers), not just the guests' linear memory.</summary>
    public int SandboxMemoryOverheadMb { get; init; } = 256;

    /// <summary><c>[wasmkata.engine] compile_cache_dir</c>: where precompiled modules are kept; empty turns the disk cache off.</summary>
    public string CompileCacheDir { get; init; } = "/var/cache/wasmkata/modules";

    /// <summary><c>[wasmkata.engine] compile_cache_max_mb</c>: the disk cache's size limit; the entries used least
    /// recently go first.</summary>
    public int CompileCacheMaxMb { get; init; } = 1024;

    /// <summary>
    /// <c>[wasmkata.engine] baseline_compile_min_mb</c>: core modules this large (MiB) or larger first start on Winch
    /// code while Cranelift compiles them in the background for the next start; 0 compiles all with Cranelift first.
    /// </summary>
    public int BaselineCompileMinMb { get; init; } = 4;

    /// <summary><c>[wasmkata.engine] pooling_allocator</c>.</summary>
    public bool PoolingAllocator { get; init; }

    /// <summary><c>[wasmkata.engine] outgoing_http</c>: "annotated" (a container's components get wasi:http when it carries
    /// the annotation <c>io.containerd.wasmkata.v2.outgoing-http: "true"</c>) or "off" (never; such a container is refused).</summary>
    public string OutgoingHttp { get; init; } = "annotated";

    /// <summary><c>[wasmkata.engine] epoch_tick_ms</c>: how often guests check for kill, pause and CPU share.</summary>
    public int EpochTickMs { get; init; } = 10;

    /// <summary><c>[wasmkata] guest_uid_base</c>: the first host uid (and gid) of the block the sandboxes' id ranges are
    /// taken from, 65536 ids each; no other user of the host may own ids in the block.</summary>
    public long GuestUidBase { get; init; } = 2100000;

    /// <summary><c>[wasmkata] guest_uid_ranges</c>: how many sandboxes' ranges the block holds (the most sandboxes a host
    /// runs at once).</summary>
    public int GuestUidRanges { get; init; } = 1024;

    /// <summary><c>[wasmkata] guest_isolation</c>: "thread" (a guest is a thread of the sandbox's daemon) or "process" (each
    /// guest runs in a confined guest host process of its own; docs/guest-host.md).</summary>
    public string GuestIsolation { get; init; } = "thread";

    /// <summary><c>[wasmkata] guest_host_seccomp</c>: what a guest host's seccomp filter does with a call off its list:
    /// "errno" (EPERM), "kill" (the guest host dies of SIGSYS: the specs' setting) or "log" (allowed and logged).</summary>
    public string GuestHostSeccomp { get; init; } = "errno";

    /// <summary><c>[wasmkata] drain_timeout_ms</c>: how long an exit waits for its output to drain.</summary>
    public int DrainTimeoutMs { get; init; } = 5000;
}
