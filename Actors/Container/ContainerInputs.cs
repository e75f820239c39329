using WasmKata.Core.Hooks;
using WasmKata.Core.Oci;
using WasmKata.Core.Plan;

namespace WasmKata.Actors.Container;

/// <summary>What Create is given to read (config.json, configuration.toml, the hooks), read once and kept as read.</summary>
internal sealed record ContainerInputs(
    OciSpec Spec, ContainerLimits Limits, OciHooks Hooks, string RootfsPath, bool IsPodSandbox, IReadOnlyList<Preopen> Preopens, bool IsMarkedWasm)
{
    /// <summary>Before the inputs are read, or when reading them failed.</summary>
    public static readonly ContainerInputs None = new(new OciSpec(), ContainerLimits.None, OciHooks.Empty, "", false, [], false);
}
