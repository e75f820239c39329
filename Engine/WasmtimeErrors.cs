namespace WasmKata.Engine;

/// <summary>Turns Wasmtime's multi-line error texts (message, backtrace, "Caused by:" chain) into one line.</summary>
internal static class WasmtimeErrors
{
    /// <summary>The cause of a trap, e.g. "wasm trap: wasm `unreachable` instruction executed".</summary>
    public static string TrapText(Exception e)
    {
        var message = e.Message;
        var caused = message.LastIndexOf("Caused by:", StringComparison.Ordinal);
        var text = OneLine(caused >= 0 ? message[(caused + "Caused by:".Length)..] : message);
        return text.Length > 0 ? text : OneLine(message);
    }

    /// <summary>The whole error chain on one line, without the wasm backtrace.</summary>
    public static string OneLine(string message)
    {
        var lines = message.Split('\n')
            .Select(l => l.Trim())
            .Where(l => l.Length > 0 && l != "Caused by:" && !IsBacktrace(l));
        return string.Join(": ", lines);
    }

    private static bool IsBacktrace(string line)
    {
        if (line.StartsWith("error while executing at wasm backtrace", StringComparison.Ordinal))
            return true;
        var colon = line.IndexOf(':', StringComparison.Ordinal);
        return colon > 0 && line.AsSpan(0, colon).IndexOfAnyExceptInRange('0', '9') < 0 && line.Contains("0x", StringComparison.Ordinal);
    }
}
