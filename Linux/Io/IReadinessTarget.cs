namespace WasmKata.Linux.Io;

/// <summary>Receives the events epoll reported for one registration, on the reactor thread.</summary>
internal interface IReadinessTarget
{
    /// <summary>Must be quick and must not throw: it runs on the single reactor thread.</summary>
    void OnReady(uint events);
}
