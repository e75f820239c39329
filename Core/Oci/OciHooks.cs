namespace WasmKata.Core.Oci;

/// <summary>The six points of the OCI lifecycle where hooks run, in the order the spec calls them.</summary>
public enum HookKind
{
    /// <summary>Deprecated; runs during Create, before <see cref="CreateRuntime"/>.</summary>
    Prestart,
    CreateRuntime,
    CreateContainer,
    StartContainer,
    Poststart,
    Poststop,
}

/// <summary>One entry of <c>hooks.&lt;kind&gt;</c> in config.json.</summary>
public sealed record OciHook
{
    /// <summary>Absolute path of the program; not searched in PATH.</summary>
    public string Path { get; init; } = "";

    /// <summary>The whole argv including argv[0]; absent or empty means <c>[path]</c>, as runc does.</summary>
    public IReadOnlyList<string>? Args { get; init; }

    /// <summary>KEY=VALUE entries: the hook's entire environment, nothing is inherited.</summary>
    public IReadOnlyList<string>? Env { get; init; }

    /// <summary>Seconds before the hook is killed and fails; absent means no limit.</summary>
    public int? Timeout { get; init; }

    /// <summary>The argv the hook is started with.</summary>
    public IReadOnlyList<string> Argv => Args is { Count: > 0 } args ? args : [Path];
}

/// <summary><c>hooks</c> of config.json; after <see cref="WasmKata.Core.Hooks.HookSpec.Check"/> every list is present, possibly empty.</summary>
public sealed record OciHooks
{
    /// <summary>No hooks at all.</summary>
    public static readonly OciHooks Empty = new();

    public IReadOnlyList<OciHook>? Prestart { get; init; } = [];
    public IReadOnlyList<OciHook>? CreateRuntime { get; init; } = [];
    public IReadOnlyList<OciHook>? CreateContainer { get; init; } = [];
    public IReadOnlyList<OciHook>? StartContainer { get; init; } = [];
    public IReadOnlyList<OciHook>? Poststart { get; init; } = [];
    public IReadOnlyList<OciHook>? Poststop { get; init; } = [];

    /// <summary>True when no kind has a hook.</summary>
    public bool IsEmpty => Enum.GetValues<HookKind>().All(kind => For(kind).Count == 0);

    /// <summary>The hooks of one kind, in the order they must run; empty when there are none.</summary>
    public IReadOnlyList<OciHook> For(HookKind kind) => kind switch
    {
        HookKind.Prestart => Prestart,
        HookKind.CreateRuntime => CreateRuntime,
        HookKind.CreateContainer => CreateContainer,
        HookKind.StartContainer => StartContainer,
        HookKind.Poststart => Poststart,
        HookKind.Poststop => Poststop,
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    } ?? [];
}

/// <summary>Names of hook kinds as config.json spells them.</summary>
public static class HookKinds
{
    /// <summary>"createRuntime" for <see cref="HookKind.CreateRuntime"/>, and so on.</summary>
    public static string JsonName(this HookKind kind) => kind switch
    {
        HookKind.Prestart => "prestart",
        HookKind.CreateRuntime => "createRuntime",
        HookKind.CreateContainer => "createContainer",
        HookKind.StartContainer => "startContainer",
        HookKind.Poststart => "poststart",
        HookKind.Poststop => "poststop",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };
}
