using WasmKata.Core.Hooks;
using WasmKata.Core.Oci;
using WasmKata.Specs.Linux;
using Xunit;

namespace WasmKata.Specs.Core.Hooks;

public sealed class HookSpecSpec : IDisposable
{
    private readonly TempDirectory _bundle = new();

    public void Dispose() => _bundle.Dispose();

    [Fact]
    public void A_config_without_hooks_must_give_empty_lists_of_every_kind()
    {
        var hooks = Read("""{ "ociVersion": "1.0.2", "process": { "args": ["/app.wasm"] } }""");

        Assert.True(hooks.IsEmpty);
        Assert.All(Enum.GetValues<HookKind>(), kind => Assert.Empty(hooks.For(kind)));
        Assert.True(Read("""{ "hooks": null }""").IsEmpty);
        Assert.True(Read("""{ "hooks": { "poststop": null } }""").IsEmpty);
    }

    [Fact]
    public void Every_kind_must_be_read_in_order_with_path_args_env_and_timeout()
    {
        var hooks = Read("""
            {
              "hooks": {
                "prestart": [ { "path": "/p" } ],
                "createRuntime": [
                  { "path": "/usr/bin/fix-mounts", "args": ["fix-mounts", "arg1"], "env": ["key1=value1"], "timeout": 5 },
                  { "path": "/usr/bin/setup-network" }
                ],
                "createContainer": [ { "path": "/cc" } ],
                "startContainer": [ { "path": "/sc" } ],
                "poststart": [ { "path": "/ps" } ],
                "poststop": [ { "path": "/pst", "args": [] } ],
              }
            }
            """);

        Assert.Equal(["/p"], hooks.For(HookKind.Prestart).Select(h => h.Path));
        var first = hooks.For(HookKind.CreateRuntime)[0];
        Assert.Equal("/usr/bin/fix-mounts", first.Path);
        Assert.Equal(["fix-mounts", "arg1"], first.Argv);
        Assert.Equal(["key1=value1"], first.Env);
        Assert.Equal(5, first.Timeout);
        var second = hooks.For(HookKind.CreateRuntime)[1];
        Assert.Equal(["/usr/bin/setup-network"], second.Argv);
        Assert.Null(second.Env);
        Assert.Null(second.Timeout);
        Assert.Equal("/cc", hooks.For(HookKind.CreateContainer).Single().Path);
        Assert.Equal("/sc", hooks.For(HookKind.StartContainer).Single().Path);
        Assert.Equal("/ps", hooks.For(HookKind.Poststart).Single().Path);
        Assert.Equal(["/pst"], hooks.For(HookKind.Poststop).Single().Argv);
        Assert.False(hooks.IsEmpty);
    }

    [Theory]
    [InlineData("""{ "hooks": { "createRuntime": [ { "path": "/ok" }, { "path": "relative/hook" } ] } }""", "hooks.createRuntime[1]: path 'relative/hook' must be absolute")]
    [InlineData("""{ "hooks": { "poststart": [ { "args": ["x"] } ] } }""", "hooks.poststart[0]: path is required")]
    [InlineData("""{ "hooks": { "startContainer": [ { "path": "/h", "timeout": 0 } ] } }""", "hooks.startContainer[0]: timeout must be greater than zero, got 0")]
    [InlineData("""{ "hooks": { "poststop": [ { "path": "/h", "env": ["OK=1", "NOEQUALS"] } ] } }""", "hooks.poststop[0]: env[1] 'NOEQUALS' is not KEY=VALUE")]
    [InlineData("""{ "hooks": { "prestart": [ { "path": "/h", "env": ["=value"] } ] } }""", "hooks.prestart[0]: env[0] '=value' is not KEY=VALUE")]
    [InlineData("""{ "hooks": { "createContainer": [ null ] } }""", "hooks.createContainer[0]: the entry is null")]
    [InlineData("""{ "hooks": { "createRuntime": [ { "path": "/h", "args": ["a", null] } ] } }""", "hooks.createRuntime[0]: args[1] is null or contains NUL")]
    public void A_malformed_hook_must_be_refused_naming_kind_index_and_problem(string json, string problem)
    {
        var e = Assert.Throws<OciSpecException>(() => Read(json));

        Assert.Equal($"{_bundle.Sub("config.json")}: {problem}", e.Message);
    }

    [Fact]
    public void A_wrongly_typed_field_must_be_refused_with_its_json_path()
    {
        var e = Assert.Throws<OciSpecException>(() => Read("""{ "hooks": { "createRuntime": [ { "path": "/h", "timeout": "soon" } ] } }"""));

        Assert.Contains("$.hooks.createRuntime[0].timeout", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_config_must_be_refused_naming_the_file()
    {
        var e = Assert.Throws<OciSpecException>(() => OciJson.ReadSpec(_bundle.Path));

        Assert.Contains(_bundle.Sub("config.json"), e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Kind_names_must_be_those_of_config_json()
    {
        Assert.Equal(
            ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
            Enum.GetValues<HookKind>().Select(kind => kind.JsonName()));
    }

    private OciHooks Read(string json)
    {
        File.WriteAllText(_bundle.Sub("config.json"), json);
        // Hooks are read with the rest of the spec (one model of config.json), then checked.
        return HookSpec.Check(OciJson.ReadSpec(_bundle.Path).Hooks, OciJson.SpecPath(_bundle.Path));
    }
}
