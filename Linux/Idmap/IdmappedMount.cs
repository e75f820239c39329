using WasmKata.Linux.Mounts;

namespace WasmKata.Linux.Idmap;

/// <summary>
/// A detached clone of a directory's mount (<c>open_tree(OPEN_TREE_CLONE)</c>) with an idmapping set
/// (<c>mount_setattr(MOUNT_ATTR_IDMAP)</c>): on-disk id n shows, and is stored, as host id <c>HostBase + n</c>.
/// Attach it with <see cref="MoveTo"/>, or hand the fd over; disposing an unattached one unmounts it.
/// </summary>
public sealed class IdmappedMount : IDisposable
{
    private const int ENOSYS = 38;

    internal IdmappedMount(SafeFdHandle fd, string source, string type)
    {
        Handle = fd;
        Source = source;
        Type = type;
    }

    /// <summary>The directory it is a clone of.</summary>
    public string Source { get; }

    /// <summary>What kind of mount it is, for errors: <c>idmapped bind</c>, <c>idmapped overlay</c>, ...</summary>
    public string Type { get; }

    /// <summary>The mount's fd (O_PATH, the root of the detached tree): usable as a directory fd, or to hand over.</summary>
    internal SafeFdHandle Handle { get; }

    /// <summary>
    /// Clones the mount at <paramref name="source"/> (rooted at that directory), with every mount below it when
    /// <paramref name="recursive"/>, idmapped through <paramref name="userNamespace"/> and read-only if asked. Every mount
    /// of the tree must allow idmapping (ext4, xfs, btrfs, tmpfs do; overlayfs, proc, sysfs do not): otherwise nothing
    /// is mapped and a <see cref="MountException"/> says so.
    /// </summary>
    public static unsafe IdmappedMount Clone(string source, IdmapUserNamespace userNamespace, bool recursive, bool readOnly = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(source);
        ArgumentNullException.ThrowIfNull(userNamespace);
        var type = recursive ? "idmapped rbind" : "idmapped bind";
        var flags = Interop.OPEN_TREE_CLONE | Interop.OPEN_TREE_CLOEXEC | (recursive ? Interop.AT_RECURSIVE : 0);
        var fd = new SafeFdHandle(Interop.OpenTree(source, flags), ownsHandle: true);
        if (fd.IsInvalid)
        {
            var errno = Interop.Errno.Last;
            fd.Dispose();
            throw new MountException(errno, type, source, "(detached)", "open_tree(OPEN_TREE_CLONE): " + Interop.Errno.Describe(errno));
        }

        try
        {
            var added = false;
            userNamespace.Handle.DangerousAddRef(ref added);
            try
            {
                var attr = new Interop.MountAttr
                {
                    AttrSet = Interop.MOUNT_ATTR_IDMAP | (readOnly ? Interop.MOUNT_ATTR_RDONLY : 0),
                    UsernsFd = (ulong)userNamespace.Handle.DangerousFd,
                };
                if (Interop.MountSetAttr(fd, Interop.AT_EMPTY_PATH | (recursive ? Interop.AT_RECURSIVE : 0), &attr) != 0)
                {
                    var errno = Interop.Errno.Last;
                    throw new MountException(errno, type, source, "(detached)", "mount_setattr(MOUNT_ATTR_IDMAP): " + WhyRefused(errno));
                }
            }
            finally
            {
                if (added)
                    userNamespace.Handle.DangerousRelease();
            }

            return new IdmappedMount(fd, source, type);
        }
        catch
        {
            fd.Dispose();
            throw;
        }
    }

    /// <summary>Attaches the mount at <paramref name="target"/> (an existing directory); it stays there after dispose.</summary>
    public void MoveTo(string target)
    {
        ArgumentException.ThrowIfNullOrEmpty(target);
        if (Interop.MoveMount(Handle, target) != 0)
        {
            var errno = Interop.Errno.Last;
            throw new MountException(errno, Type, Source, target, "move_mount: " + Interop.Errno.Describe(errno));
        }
    }

    /// <summary>Closes the fd; a mount never attached goes with it.</summary>
    public void Dispose() => Handle.Dispose();

    internal static string WhyRefused(int errno) => errno switch
    {
        Interop.Errno.EINVAL => Interop.Errno.Describe(errno)
            + " (a filesystem of the tree cannot be idmapped: overlayfs, proc and sysfs cannot; ext4, xfs, btrfs and tmpfs can)",
        Interop.Errno.EPERM => Interop.Errno.Describe(errno) + " (the mount is idmapped already, or the caller lacks CAP_SYS_ADMIN)",
        ENOSYS => Interop.Errno.Describe(errno) + " (this kernel has no mount_setattr: idmapped mounts need Linux 5.12)",
        _ => Interop.Errno.Describe(errno),
    };
}
