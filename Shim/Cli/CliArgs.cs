using System.Globalization;
using WasmKata.Inspection;

namespace WasmKata.Cli;

/// <summary>The command line of <c>wasmkata</c>: one command word, its argument, and a few options.</summary>
internal sealed record CliArgs
{
    public const string Usage = """
        usage: wasmkata COMMAND [OPTIONS]

        Shows what the WasmKata shims on this host hold, live, over their inspection cluster.

        commands:
          ps [--json]        every sandbox (shim), container and process: state, exit code, times, memory
          tree [ID]          the live actor tree of every shim, or of the sandbox or container ID
          inspect ID         everything known about container ID (or CONTAINER/EXEC, or an exec id), as JSON
          events [--json]    task events as the shims send them to containerd, until Ctrl-C

        options:
          -n, --namespace NS  only shims of containerd namespace NS
          --timeout SECONDS   how long to wait for each shim (default 5)
          --dir PATH          the live-address directory (default $WASMKATA_INSPECT_DIR or /run/wasmkata/inspect)
          -h, --help          this text
        """;

    public string Command { get; init; } = "";

    public string? Id { get; init; }

    public bool Json { get; init; }

    public string? Namespace { get; init; }

    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(5);

    public string Directory { get; init; } = InspectionOptions.DefaultDirectory();

    public bool Help { get; init; }

    /// <summary>Parses <paramref name="args"/>; a usage error comes back as <paramref name="error"/>.</summary>
    public static CliArgs Parse(IReadOnlyList<string> args, out string? error)
    {
        error = null;
        var result = new CliArgs();
        var positional = new List<string>();
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            string Value(string name)
            {
                if (i + 1 < args.Count)
                    return args[++i];
                throw new FormatException($"{name} needs a value");
            }
            try
            {
                result = arg switch
                {
                    "--json" => result with { Json = true },
                    "-n" or "--namespace" => result with { Namespace = Value(arg) },
                    "--dir" => result with { Directory = Value(arg) },
                    "--timeout" => result with { Timeout = Seconds(Value(arg)) },
                    "-h" or "--help" or "help" => result with { Help = true },
                    _ when arg.StartsWith('-') && arg.Length > 1 => throw new FormatException($"unknown option {arg}"),
                    _ => Positional(result, positional, arg),
                };
            }
            catch (FormatException e)
            {
                error = e.Message;
                return result;
            }
        }
        if (result.Help)
            return result;
        if (positional.Count == 0)
        {
            error = "no command given";
            return result;
        }
        result = result with { Command = positional[0], Id = positional.Count > 1 ? positional[1] : null };
        error = (result.Command, positional.Count) switch
        {
            ("ps" or "events", > 1) => $"{result.Command} takes no argument",
            ("tree", > 2) => "tree takes at most one ID",
            ("inspect", not 2) => "inspect takes one ID",
            ("ps" or "events" or "tree" or "inspect", _) => null,
            _ => $"unknown command {result.Command}",
        };
        return result;
    }

    private static CliArgs Positional(CliArgs result, List<string> positional, string arg)
    {
        positional.Add(arg);
        return result;
    }

    private static TimeSpan Seconds(string value) =>
        double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) && seconds > 0
            ? TimeSpan.FromSeconds(seconds)
            : throw new FormatException($"--timeout wants a positive number of seconds, not {value}");
}
