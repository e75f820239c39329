using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using WasmKata.Core.Protos.RuntimeOptions;

namespace WasmKata.Core.Bootstrap;

/// <summary>The runtime options containerd passes to a non-runc shim: <c>runtimeoptions.v1.Options</c> with a config path.</summary>
internal static class RuntimeOptions
{
    /// <summary>The configuration path in <paramref name="options"/>, or "" when there is none (or another options type).</summary>
    public static string ConfigPath(Any? options)
    {
        if (options is null || !options.TypeUrl.EndsWith(Options.Descriptor.FullName, StringComparison.Ordinal))
            return "";
        try
        {
            return Options.Parser.ParseFrom(options.Value).ConfigPath;
        }
        catch (InvalidProtocolBufferException)
        {
            return "";
        }
    }

    /// <summary>The configuration path in the bytes containerd writes to <c>start</c>'s stdin (an <c>Any</c>, or empty).</summary>
    public static string ConfigPathFromStartInput(byte[] input)
    {
        if (input.Length == 0)
            return "";
        try
        {
            return ConfigPath(Any.Parser.ParseFrom(input));
        }
        catch (InvalidProtocolBufferException)
        {
            return "";
        }
    }
}
