namespace WasmKata.Linux.Systemd;

/// <summary>systemd refused a request or a job failed; <see cref="ErrorName"/> is the D-Bus error or the job result.</summary>
public sealed class SystemdException : IOException
{
    /// <summary>Creates the exception.</summary>
    public SystemdException(string message, string? errorName = null, Exception? inner = null)
        : base(message, inner)
    {
        ErrorName = errorName;
    }

    /// <summary>E.g. <c>org.freedesktop.systemd1.NoSuchUnit</c>, or a job result such as <c>failed</c>.</summary>
    public string? ErrorName { get; }
}
