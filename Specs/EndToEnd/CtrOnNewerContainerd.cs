using Xunit;
using Xunit.Abstractions;

namespace WasmKata.Specs.EndToEnd;

// The representative ctr specs (run, exec and ps, kill, pause, metrics and update, limits) again on Debian trixie's
// containerd 1.7 (with its own ctr) and sid's 2.x (with Debian 12's ctr), each on a private containerd of its own.
// README.md's compatibility table lists what runs where.

/// <summary><see cref="WasmRunSpec"/> on containerd 1.7.</summary>
[Collection(EndToEndCollection.Name)]
[Trait("Category", "EndToEnd")]
[Trait("Requires", "root")]
[Trait("Runtime", "wasmkata")]
public sealed class WasmRunOnContainerd17Spec(Containerd17Fixture fixture) : WasmRunSpec(fixture), IClassFixture<Containerd17Fixture>;

/// <summary><see cref="WasmTaskSpec"/> on containerd 1.7.</summary>
[Collection(EndToEndCollection.Name)]
[Trait("Category", "EndToEnd")]
[Trait("Requires", "root")]
[Trait("Runtime", "wasmkata")]
public sealed class WasmTaskOnContainerd17Spec(Containerd17Fixture fixture) : WasmTaskSpec(fixture), IClassFixture<Containerd17Fixture>;

/// <summary><see cref="WasmKillSpec"/> on containerd 1.7.</summary>
[Collection(EndToEndCollection.Name)]
[Trait("Category", "EndToEnd")]
[Trait("Requires", "root")]
[Trait("Runtime", "wasmkata")]
public sealed class WasmKillOnContainerd17Spec(Containerd17Fixture fixture) : WasmKillSpec(fixture), IClassFixture<Containerd17Fixture>;

/// <summary><see cref="WasmResourcesSpec"/> on containerd 1.7.</summary>
[Collection(EndToEndCollection.Name)]
[Trait("Category", "EndToEnd")]
[Trait("Requires", "root")]
[Trait("Runtime", "wasmkata")]
public sealed class WasmResourcesOnContainerd17Spec(Containerd17Fixture fixture, ITestOutputHelper output)
    : WasmResourcesSpec(fixture, output), IClassFixture<Containerd17Fixture>;

/// <summary><see cref="WasmRunSpec"/> on containerd 2.x.</summary>
[Collection(EndToEndCollection.Name)]
[Trait("Category", "EndToEnd")]
[Trait("Requires", "root")]
[Trait("Runtime", "wasmkata")]
public sealed class WasmRunOnContainerd2Spec(Containerd2Fixture fixture) : WasmRunSpec(fixture), IClassFixture<Containerd2Fixture>;

/// <summary><see cref="WasmTaskSpec"/> on containerd 2.x.</summary>
[Collection(EndToEndCollection.Name)]
[Trait("Category", "EndToEnd")]
[Trait("Requires", "root")]
[Trait("Runtime", "wasmkata")]
public sealed class WasmTaskOnContainerd2Spec(Containerd2Fixture fixture) : WasmTaskSpec(fixture), IClassFixture<Containerd2Fixture>;

/// <summary><see cref="WasmKillSpec"/> on containerd 2.x.</summary>
[Collection(EndToEndCollection.Name)]
[Trait("Category", "EndToEnd")]
[Trait("Requires", "root")]
[Trait("Runtime", "wasmkata")]
public sealed class WasmKillOnContainerd2Spec(Containerd2Fixture fixture) : WasmKillSpec(fixture), IClassFixture<Containerd2Fixture>;

/// <summary><see cref="WasmResourcesSpec"/> on containerd 2.x.</summary>
[Collection(EndToEndCollection.Name)]
[Trait("Category", "EndToEnd")]
[Trait("Requires", "root")]
[Trait("Runtime", "wasmkata")]
public sealed class WasmResourcesOnContainerd2Spec(Containerd2Fixture fixture, ITestOutputHelper output)
    : WasmResourcesSpec(fixture, output), IClassFixture<Containerd2Fixture>;
