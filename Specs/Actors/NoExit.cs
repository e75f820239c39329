using WasmKata.Actors.Sandbox;

namespace WasmKata.Specs.Actors;

/// <summary>A shim lifetime for specs that host a sandbox in the test process: asked to exit, it stays.</summary>
internal sealed class NoExit : IShimLifetime
{
    public void RequestExit()
    {
    }
}
