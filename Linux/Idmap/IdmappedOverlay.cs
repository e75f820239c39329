using System.Text;
using WasmKata.Linux.Mounts;

namespace WasmKata.Linux.Idmap;

/// <summary>
/// An overlay mount whose layers are idmapped: overlayfs itself cannot carry an idmapping (mount_setattr refuses it
/// with EINVAL on this kernel, 6.18), but it accepts idmapped layers. Each lower directory and the directory holding
/// upperdir and workdir become detached idmapped clones, handed to a new overlay as fds (fsconfig FSCONFIG_SET_FD,
/// Linux 6.13 and later), so no layer is ever attached anywhere.
/// </summary>
/// <remarks>
/// Overlayfs does its work in the upper layer (the work directory, copy-up) with the credentials of whoever
/// created it. Root's uid 0 has no mapping in the layers' idmapping, so an overlay created by root falls back to
/// read-only (EOVERFLOW making work/work). It is created on a thread whose fsuid and fsgid are the range's root
/// (host id <c>HostBase</c>, on-disk 0), with every capability kept: its own files are then on-disk root's.
/// </remarks>
internal static class IdmappedOverlay
{
    private const string Type = "idmapped overlay";
    private const string Detached = "(detached)";
    private const int MaxLogLines = 8;

    /// <summary>The overlay <paramref name="mount"/> describes, its layers idmapped, as a detached mount.</summary>
    internal static IdmappedMount Create(MountSpec mount, IdmapUserNamespace userNamespace)
    {
        var options = MountOptions.Parse(mount.Options);
        var layers = OverlayLayers.Parse(options.Data, mount.Source, Detached);
        var clones = new List<IdmappedMount>();
        var openedDirs = new List<SafeFdHandle>();
        try
        {
            using var context = Open(mount.Source, Detached);
            foreach (var lower in layers.Lower)
            {
                var clone = IdmappedMount.Clone(lower, userNamespace, recursive: false);
                clones.Add(clone);
                SetFd(context, "lowerdir+", clone.Handle, lower, mount.Source, Detached);
            }

            if (layers.UpperParent is { } parent)
            {
                var clone = IdmappedMount.Clone(parent, userNamespace, recursive: false);
                clones.Add(clone);
                foreach (var (key, relative) in new[] { ("upperdir", layers.Upper!), ("workdir", layers.Work!) })
                {
                    var dir = OpenBeneath(clone, relative, mount.Source, Detached);
                    openedDirs.Add(dir);
                    SetFd(context, key, dir, Path.Join(parent, relative), mount.Source, Detached);
                }
            }

            foreach (var option in layers.Other)
            {
                var equals = option.IndexOf('=', StringComparison.Ordinal);
                var result = equals < 0
                    ? Interop.FsConfig(context, Interop.FSCONFIG_SET_FLAG, option, null, 0)
                    : Interop.FsConfig(context, Interop.FSCONFIG_SET_STRING, option[..equals], option[(equals + 1)..], 0);
                if (result != 0)
                    throw Refused(context, Interop.Errno.Last, $"option {option}", mount.Source, Detached);
            }

            var created = ThreadFsIdentity.Run(userNamespace.Range.RootHostId, () =>
                Interop.FsConfig(context, Interop.FSCONFIG_CMD_CREATE, null, null, 0) == 0 ? 0 : Interop.Errno.Last);
            if (created != 0)
                throw Refused(context, created, "create", mount.Source, Detached);

            var detached = new SafeFdHandle(Interop.FsMount(context, Attributes(options.Flags, layers)), ownsHandle: true);
            if (!detached.IsInvalid)
                return new IdmappedMount(detached, mount.Source, Type);

            var errno = Interop.Errno.Last;
            detached.Dispose();
            throw Refused(context, errno, "fsmount", mount.Source, Detached);
        }
        finally
        {
            // The overlay holds private clones of its layers; these fds (and the detached mounts) can go.
            foreach (var dir in openedDirs)
                dir.Dispose();
            foreach (var clone in clones)
                clone.Dispose();
        }
    }

    private static SafeFdHandle Open(string source, string target)
    {
        var context = new SafeFdHandle(Interop.FsOpen("overlay"), ownsHandle: true);
        if (!context.IsInvalid)
            return context;

        var errno = Interop.Errno.Last;
        context.Dispose();
        throw new MountException(errno, Type, source, target, "fsopen(overlay): " + Interop.Errno.Describe(errno));
    }

    private static void SetFd(SafeFdHandle context, string key, SafeFdHandle fd, string path, string source, string target)
    {
        var added = false;
        fd.DangerousAddRef(ref added);
        try
        {
            if (Interop.FsConfig(context, Interop.FSCONFIG_SET_FD, key, null, fd.DangerousFd) != 0)
                throw Refused(context, Interop.Errno.Last, $"{key} {path} as an fd (Linux 6.13 or later)", source, target);
        }
        finally
        {
            if (added)
                fd.DangerousRelease();
        }
    }

    private static SafeFdHandle OpenBeneath(IdmappedMount clone, string relative, string source, string target)
    {
        var fd = new SafeFdHandle(
            Interop.OpenAt(clone.Handle, relative, Interop.O_PATH | Interop.O_DIRECTORY | Interop.O_CLOEXEC, 0), ownsHandle: true);
        if (!fd.IsInvalid)
            return fd;

        var errno = Interop.Errno.Last;
        fd.Dispose();
        throw new MountException(errno, Type, source, target, $"open {relative} in {clone.Source}: {Interop.Errno.Describe(errno)}");
    }

    private static ulong Attributes(ulong flags, OverlayLayers layers)
    {
        ulong attributes = 0;
        if ((flags & Interop.MS_RDONLY) != 0 || layers.UpperParent is null)
            attributes |= Interop.MOUNT_ATTR_RDONLY;
        if ((flags & Interop.MS_NOSUID) != 0)
            attributes |= Interop.MOUNT_ATTR_NOSUID;
        if ((flags & Interop.MS_NODEV) != 0)
            attributes |= Interop.MOUNT_ATTR_NODEV;
        if ((flags & Interop.MS_NOEXEC) != 0)
            attributes |= Interop.MOUNT_ATTR_NOEXEC;
        if ((flags & Interop.MS_NOATIME) != 0)
            attributes |= Interop.MOUNT_ATTR_NOATIME;
        return attributes;
    }

    /// <summary>The errno, with what overlayfs wrote to the context's log (its reason, e.g. a missing layer).</summary>
    private static unsafe MountException Refused(SafeFdHandle context, int errno, string step, string source, string target)
    {
        var log = new StringBuilder();
        var buffer = stackalloc byte[1024];
        for (var line = 0; line < MaxLogLines; line++)
        {
            var n = Interop.Read(context, buffer, 1024);
            if (n <= 0)
                break;
            log.Append("; ").Append(Encoding.UTF8.GetString(buffer, (int)n).TrimEnd('\n'));
        }

        return new MountException(errno, Type, source, target, $"{step}: {Interop.Errno.Describe(errno)}{log}");
    }
}
