namespace WasmKata.Linux.Mounts;

/// <summary>One mount as containerd sends it (<c>containerd.types.Mount</c>); <paramref name="Target"/> is relative to the rootfs, or empty.</summary>
public sealed record MountSpec(string Type, string Source, string Target, IReadOnlyList<string> Options);
