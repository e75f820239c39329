using Akka.Actor;
using Akka.Event;
using WasmKata.Core;
using WasmKata.Core.Artifacts;
using WasmKata.Core.Oci;
using WasmKata.Core.Plan;

namespace WasmKata.Actors.Container;

/// <summary>
/// Wasm OCI artifacts: images whose layers are wasm binaries rather than tars, so the rootfs containerd hands over is
/// empty. When process.args[0] names no file of the rootfs, Create asks containerd (its gRPC socket, the shim's
/// namespace) for the image's wasm layer and runs that instead; an ordinary image that lacks its module still fails
/// Create, saying both what was missing and what the image holds.
/// </summary>
internal sealed partial class ContainerActor
{
    // The layer init runs, once read; an exec whose args[0] names no file of the rootfs runs it too.
    private WasmArtifact? _artifact;

    /// <summary>The layer was read into a file of the bundle.</summary>
    private sealed record ArtifactRead(WasmArtifact Artifact);

    /// <summary>The image has no layer to run, or containerd could not be asked.</summary>
    private sealed record ArtifactFailed(FailureCode Code, string Message);

    private bool NeedsArtifact(OciProcess? process) =>
        _settings.ContainerdAddress.Length > 0 && !GuestPlan.NamesModuleInRootfs(process, _rootfs.Path, Plan.Preopens);

    /// <summary>Reads the image's wasm layer off the actor, then plans and spawns init from it.</summary>
    private void ReadArtifact()
    {
        var args = Spec.Process?.Args ?? [];
        var annotations = Spec.Annotations;
        var request = new ArtifactRequest(
            Id,
            annotations?.GetValueOrDefault(WasmArtifactReader.CriImageNameAnnotation),
            args.Count > 0 ? args[0] : null,
            _create.Bundle);
        var (address, ns, cancel) = (_settings.ContainerdAddress, _settings.Namespace, _stop.Token);
        Task.Run(async () =>
        {
            using var source = new ContainerdContentSource(address, ns);
            return await WasmArtifactReader.ReadAsync(source, request, cancel);
        }).PipeTo(Self, success: artifact => new ArtifactRead(artifact), failure: e => e switch
        {
            ArtifactException a => new ArtifactFailed(a.Code, a.Message),
            _ => new ArtifactFailed(FailureCode.Internal, e.Message),
        });
        ReadingArtifact(args.Count > 0 ? $"wasm module \"{args[0]}\" not found in the container's rootfs" : "process.args is empty");
    }

    private void ReadingArtifact(string notInRootfs)
    {
        _atStop = ForgetState;
        Become(() =>
        {
            Receive<ArtifactRead>(read =>
            {
                _artifact = read.Artifact;
                _log.Info("{Container}: running wasm layer {Digest} ({MediaType}, {Bytes} bytes) of image {Image}",
                    Id, read.Artifact.Layer.Digest, read.Artifact.Layer.MediaType, read.Artifact.Layer.Size, read.Artifact.Image);
                try
                {
                    var (module, config) = PlanGuest(Spec.Process, Plan.Limits);
                    var execs = Spawn(ExecTable.Empty, Init, module, config, _create.Stdio, Plan.Limits, _createReplyTo);
                    Creating(new ContainerData(execs, Plan.Limits));
                }
                catch (Exception e)
                {
                    FailCreate(ToFailure(e), [_createReplyTo]);
                }
            });
            // Unreachable containerd tells nothing of the image: the module missing from the rootfs stays the failure
            // (NotFound), with the reason the image could not be asked in the message.
            Receive<ArtifactFailed>(failed => FailCreate(
                new CommandFailed(failed.Code == FailureCode.Unavailable ? FailureCode.NotFound : failed.Code,
                    $"{notInRootfs}, and no wasm layer could be read from its image: {failed.Message}"),
                [_createReplyTo]));
            ReceiveAny(_ => Stash.Stash());
        });
    }

    /// <summary>The module and configuration of a process: a file of the rootfs, else the artifact's layer.</summary>
    private (string Module, GuestConfig Config) PlanGuest(OciProcess? process, ContainerLimits limits)
    {
        var readOnly = Spec.Root?.Readonly ?? false;
        var outgoingHttp = GuestPlan.OutgoingHttp(Spec, Plan.Config.OutgoingHttp);
        if (_artifact is { } artifact && !GuestPlan.NamesModuleInRootfs(process, _rootfs.Path, Plan.Preopens))
            return GuestPlan.ForArtifact(process, artifact.ModulePath, _rootfs.Path, readOnly, limits.MemoryLimitBytes, Plan.Preopens, outgoingHttp);
        return GuestPlan.For(process, _rootfs.Path, readOnly, limits.MemoryLimitBytes, Plan.Preopens, Plan.IsMarkedWasm, outgoingHttp);
    }
}
