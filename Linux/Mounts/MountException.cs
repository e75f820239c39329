namespace WasmKata.Linux.Mounts;

/// <summary>A mount failed; names the mount's type, source and target and the errno text.</summary>
public sealed class MountException : UnixException
{
    /// <summary>Creates the exception; <paramref name="detail"/> replaces the errno text when the kernel was not asked.</summary>
    public MountException(int errno, string type, string source, string target, string? detail = null)
        : base(errno, "mount", target, FormatMessage(errno, type, source, target, detail))
    {
        MountType = type;
        MountSource = source;
        MountTarget = target;
    }

    /// <summary>The filesystem type, e.g. <c>bind</c> or <c>overlay</c>.</summary>
    public string MountType { get; }

    /// <summary>The mount source.</summary>
    public string MountSource { get; }

    /// <summary>The absolute mount target.</summary>
    public string MountTarget { get; }

    private static string FormatMessage(int errno, string type, string source, string target, string? detail) =>
        $"mount type={type} source={source} target={target} failed: {detail ?? Interop.Errno.Describe(errno)}";
}
