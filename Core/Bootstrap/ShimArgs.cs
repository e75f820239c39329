namespace WasmKata.Core.Bootstrap;

/// <summary>The command line containerd gives a shim: Go-style single-dash flags, then one action word.</summary>
internal sealed record ShimArgs
{
    public string Namespace { get; init; } = "";
    public string Address { get; init; } = "";
    public string PublishBinary { get; init; } = "";
    public string Id { get; init; } = "";
    public string Bundle { get; init; } = "";
    public bool Debug { get; init; }
    public bool Info { get; init; }
    public bool Version { get; init; }
    public string Action { get; init; } = "";

    /// <summary>Parses <paramref name="args"/>; unknown flags are skipped, as containerd may add some.</summary>
    public static ShimArgs Parse(IReadOnlyList<string> args)
    {
        var result = new ShimArgs();
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (!arg.StartsWith('-') || arg == "-")
            {
                result = result with { Action = arg };
                continue;
            }
            var name = arg.TrimStart('-');
            string? inline = null;
            var eq = name.IndexOf('=');
            if (eq >= 0)
            {
                inline = name[(eq + 1)..];
                name = name[..eq];
            }
            string Value() => inline ?? (i + 1 < args.Count ? args[++i] : "");
            result = name switch
            {
                "namespace" => result with { Namespace = Value() },
                "address" => result with { Address = Value() },
                "publish-binary" => result with { PublishBinary = Value() },
                "id" => result with { Id = Value() },
                "bundle" => result with { Bundle = Value() },
                "debug" => result with { Debug = inline is null or "true" },
                "info" => result with { Info = true },
                "v" or "version" => result with { Version = true },
                "socket" or "debug-socket" => Skip(result, inline, ref i),
                _ => result,
            };
        }
        if (result.Namespace.Length == 0)
            result = result with { Namespace = Environment.GetEnvironmentVariable("NAMESPACE") ?? "" };
        return result;
    }

    /// <summary>Back to the argument list (for the daemon, which gets the same flags).</summary>
    public IReadOnlyList<string> ToArgs(string action)
    {
        var list = new List<string> { "-namespace", Namespace, "-address", Address, "-publish-binary", PublishBinary, "-id", Id };
        if (Debug)
            list.Add("-debug");
        list.Add(action);
        return list;
    }

    private static ShimArgs Skip(ShimArgs result, string? inline, ref int i)
    {
        if (inline is null)
            i++;
        return result;
    }
}
