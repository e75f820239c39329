using WasmKata.Core.Oci;

namespace WasmKata.Core.Hooks;

/// <summary>Checks the <c>hooks</c> of a bundle's config.json, parsed with the rest of the spec by <see cref="OciJson"/>.</summary>
public static class HookSpec
{
    /// <summary>
    /// <paramref name="hooks"/> with every list present (empty when none). A malformed hook throws
    /// <see cref="OciSpecException"/> naming <paramref name="source"/>, the hook and what is wrong.
    /// </summary>
    public static OciHooks Check(OciHooks? hooks, string source = "config.json")
    {
        if (hooks is null)
            return OciHooks.Empty;

        return new OciHooks
        {
            Prestart = Checked(hooks, HookKind.Prestart, source),
            CreateRuntime = Checked(hooks, HookKind.CreateRuntime, source),
            CreateContainer = Checked(hooks, HookKind.CreateContainer, source),
            StartContainer = Checked(hooks, HookKind.StartContainer, source),
            Poststart = Checked(hooks, HookKind.Poststart, source),
            Poststop = Checked(hooks, HookKind.Poststop, source),
        };
    }
    private static IReadOnlyList<OciHook> Checked(OciHooks hooks, HookKind kind, string source)
    {
        var list = hooks.For(kind);
        for (var i = 0; i < list.Count; i++)
        {
            if (Problem(list[i]) is { } problem)
                throw new OciSpecException($"{source}: hooks.{kind.JsonName()}[{i}]: {problem}");
        }

        return list;
    }

    /// <summary>What makes a hook unusable, or null when it is fine.</summary>
    private static string? Problem(OciHook? hook)
    {
        if (hook is null)
            return "the entry is null";

        if (string.IsNullOrEmpty(hook.Path))
            return "path is required";

        if (!hook.Path.StartsWith('/'))
            return $"path '{hook.Path}' must be absolute";

        if (hook.Timeout is <= 0)
            return $"timeout must be greater than zero, got {hook.Timeout}";

        foreach (var (arg, index) in (hook.Args ?? []).Select((arg, index) => (arg, index)))
        {
            if (arg is null || arg.Contains('\0', StringComparison.Ordinal))
                return $"args[{index}] is null or contains NUL";
        }

        foreach (var (entry, index) in (hook.Env ?? []).Select((entry, index) => (entry, index)))
        {
            if (entry is null || entry.Contains('\0', StringComparison.Ordinal) || entry.IndexOf('=', StringComparison.Ordinal) <= 0)
                return $"env[{index}] '{entry}' is not KEY=VALUE";
        }

        return hook.Path.Contains('\0', StringComparison.Ordinal) ? "path contains NUL" : null;
    }
}
