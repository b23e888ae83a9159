"""The file a save replaces: what may be replaced, what the new file keeps, and write errors.

* A target that exists is replaced only when it is a regular file the user may write: a read-only
  file (no write bit, or not writable by this user) raises PermissionError and stays as it was,
  a folder, FIFO or device raises OSError.
* The new file keeps the old one's permission bits (a 0600 file stays 0600; the temporary file is
  created 0600 so that it is never more readable than that meanwhile) and, where the user may
  (root, or a group the user belongs to), its owner and group.
* A symbolic link is followed, as ``open(path, "w")`` follows it: the file it points to is replaced
  (atomically, in that file's folder) and the link stays a link. As the kernel's
  ``protected_symlinks`` does, a link in a sticky world-writable folder (``/tmp``) is followed only
  when the user owns the link or the folder.
* Any failure while writing (a full disk, a quota, a file size limit) is an OSError carrying the
  errno and the target's path, whether it came from Python or from h5py (which raises
  RuntimeError for failed HDF5 writes).
"""
import errno
import os
import re
import stat

from .file_guards import kind_of

_ERRNO = re.compile(r"errno = (\d+)")


def resolve(target, overwrite):
    """``(path, stat or None)``: the absolute path a save of ``target`` writes (symlinks followed) and
    the ``os.stat`` of the file it replaces. Raises FileExistsError, PermissionError or OSError."""
    path = os.path.abspath(os.fsdecode(target))
    if os.path.islink(path):
        _check_link(path)
        path = os.path.realpath(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return path, None
    if not overwrite:
        raise FileExistsError(errno.EEXIST, "the file already exists and overwrite=False", os.fsdecode(target))
    if not stat.S_ISREG(st.st_mode):
        code = errno.EISDIR if stat.S_ISDIR(st.st_mode) else errno.EINVAL
        raise OSError(code, f"cannot save over {kind_of(st.st_mode)}: gpunet replaces only regular files", path)
    if not st.st_mode & 0o222 or not os.access(path, os.W_OK):
        raise PermissionError(errno.EACCES, f"read-only file (mode {stat.filemode(st.st_mode)}): gpunet does "
                              "not replace a file its owner made read-only; make it writable (chmod u+w) or save "
                              "elsewhere", path)
    return path, st


def _check_link(path):
    link = os.lstat(path)
    folder = os.stat(os.path.dirname(path))
    sticky_shared = folder.st_mode & stat.S_ISVTX and folder.st_mode & stat.S_IWOTH
    me = os.geteuid() if hasattr(os, "geteuid") else link.st_uid  # Windows: no owners to compare
    if sticky_shared and link.st_uid not in (me, folder.st_uid):
        raise PermissionError(errno.EACCES, "refusing to follow a symbolic link another user owns in a shared "
                              "sticky folder (it could point anywhere the saving user may write)", path)


def temp_mode(existing):
    """The mode to create the temporary file with: private while it is written over an existing file,
    else what ``open()`` would give a new file (0o666 less the umask)."""
    return 0o600 if existing is not None else 0o666


def carry_over(tmp, existing):
    """Give the written temporary file the replaced file's permission bits, and its owner where allowed."""
    if existing is None:
        return
    if hasattr(os, "chown"):
        mine = os.stat(tmp)
        if (mine.st_uid, mine.st_gid) != (existing.st_uid, existing.st_gid):
            for uid in (existing.st_uid, -1):  # the owner needs root; the group only membership
                try:
                    os.chown(tmp, uid, existing.st_gid)
                    break
                except OSError:
                    continue
    os.chmod(tmp, stat.S_IMODE(existing.st_mode) & 0o777)


def write_error(exc, path):
    """``exc`` (raised while writing ``path``) as an OSError with an errno and the path, or None when it
    is not a failed write (a ValueError from the model, say) and should propagate unchanged."""
    if isinstance(exc, OSError) and exc.errno is not None:
        if exc.filename is not None:
            return None
        return type(exc)(exc.errno, exc.strerror or os.strerror(exc.errno), path)
    if isinstance(exc, (OSError, RuntimeError)):
        match = _ERRNO.search(str(exc))
        if match is None and isinstance(exc, RuntimeError):
            return None
        code = int(match.group(1)) if match else errno.EIO
        return OSError(code, f"{os.strerror(code)} while writing ({exc})", path)
    return None
