using WasmKata.Config;
using WasmKata.Core.Hooks;
using WasmKata.Core.Oci;

namespace WasmKata.Core.Plan;

/// <summary>
/// Everything a Create needs from its inputs, read once: the bundle's config.json (spec and hooks, one model) and the
/// validated configuration.toml, with what follows from them. The sandbox reads it and hands it to the container.
/// </summary>
/// <param name="Bundle">The bundle directory the spec was read from.</param>
/// <param name="Spec">The parsed config.json.</param>
/// <param name="Hooks">The spec's hooks, checked; every list present, possibly empty.</param>
/// <param name="Limits">The limits of <c>linux.resources</c>.</param>
/// <param name="RootfsPath">The host directory of the container's root.</param>
/// <param name="IsPodSandbox">Whether this is a CRI pod's sandbox container (nothing is executed).</param>
/// <param name="Preopens">The spec's bind mounts as preopens; empty for a pod's sandbox container, which runs no guest.</param>
/// <param name="IsMarkedWasm">Whether the spec's annotations mark the container as wasm.</param>
/// <param name="Config">The shim configuration the Create names.</param>
public sealed record ContainerPlan(
    string Bundle,
    OciSpec Spec,
    OciHooks Hooks,
    ContainerLimits Limits,
    string RootfsPath,
    bool IsPodSandbox,
    IReadOnlyList<Preopen> Preopens,
    bool IsMarkedWasm,
    ShimConfig Config)
{
    /// <summary>
    /// Reads <paramref name="bundle"/>'s config.json and the configuration at <paramref name="configPath"/> (located as
    /// <see cref="ConfigLoader.Load"/> does). Throws what Create reports: <see cref="ConfigException"/> first (a bad
    /// configuration is refused whatever the spec), then <see cref="OciSpecException"/>, <see cref="ArgumentException"/>
    /// for limits no kernel would take, and <see cref="GuestPlanException"/> for a mount source that does not exist.
    /// </summary>
    public static ContainerPlan Read(string bundle, string? configPath)
    {
        ArgumentException.ThrowIfNullOrEmpty(bundle);
        var config = ConfigLoader.Load(configPath);
        var spec = OciJson.ReadSpec(bundle);
        var hooks = HookSpec.Check(spec.Hooks, OciJson.SpecPath(bundle));
        var limits = ContainerLimits.FromSpec(spec.Linux?.Resources);
        var rootfs = GuestPlan.RootfsPath(spec, bundle);
        var podSandbox = GuestPlan.IsPodSandbox(spec);
        var preopens = podSandbox ? [] : GuestPlan.Preopens(spec.Mounts);
        return new ContainerPlan(bundle, spec, hooks, limits, rootfs, podSandbox, preopens, GuestPlan.IsMarkedWasm(spec), config);
    }

    /// <summary>
    /// <see cref="Read"/>, with whatever it throws kept for the container to report as its Create's failure: the reader
    /// (the sandbox) only decides from a plan it could read, and the message and code stay the container's.
    /// </summary>
    public static ContainerPlanRead TryRead(string bundle, string? configPath)
    {
        try
        {
            return new ContainerPlanRead(Read(bundle, configPath), null);
        }
        catch (Exception e)
        {
            return new ContainerPlanRead(null, e);
        }
    }
}

/// <summary>A Create's plan, or the exception reading its inputs threw.</summary>
/// <param name="Plan">The plan; null when <paramref name="Failure"/> is set.</param>
/// <param name="Failure">Why there is no plan; null when there is one.</param>
public sealed record ContainerPlanRead(ContainerPlan? Plan, Exception? Failure)
{
    /// <summary>The plan, or <see cref="Failure"/> thrown again for the caller's usual failure mapping.</summary>
    public ContainerPlan Get() => Plan ?? throw Failure!;
}
