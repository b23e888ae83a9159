"""Reading only the file that was named: regular files only, no link out of an HDF5 file.

A path is opened once, with ``O_NONBLOCK`` so that a FIFO or a device cannot block the open, and
its type is checked with ``fstat`` on that descriptor (not on the path, which could be swapped in
between). Everything afterwards reads through that descriptor: the zip reader directly, h5py
through ``/proc/self/fd/N`` or its file-object driver (see `open_h5`).

HDF5 links are checked before any object is read: an external link (or a user-defined one) makes
HDF5 open another file, so a model file could read any HDF5 file its user can read. Soft links
stay inside the file and are allowed.
"""
import os
import stat

import h5py

from .errors import CorruptModelFileError

_PROC_FD = "/proc/self/fd"

_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def kind_of(mode):
    """"a FIFO (named pipe)", "a folder"... for a non-regular ``st_mode``; None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def not_regular(name, mode):
    """The error for reading a path that is not a regular file."""
    hint = " (gpunet reads .h5/.hdf5 files and .keras archives)" if stat.S_ISDIR(mode) else ""
    return CorruptModelFileError(name, f"this is {kind_of(mode)}, not a regular file; gpunet reads only "
                                       f"regular files{hint}")


def open_regular(path, name=None):
    """``(fd, stat_result)`` of ``path`` opened read-only, refusing anything but a regular file.

    Raises FileNotFoundError for a missing path and `CorruptModelFileError` naming the kind of
    file otherwise. The caller closes ``fd``."""
    name = name or os.fsdecode(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise FileNotFoundError(2, f"No file or directory found at {name!r}", name) from None
    except IsADirectoryError:  # Windows cannot open folders
        raise not_regular(name, stat.S_IFDIR) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise not_regular(name, st.st_mode)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)  # a regular file: back to plain reads
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def read_text(path, max_bytes, what="file"):
    """The UTF-8 text of the regular file ``path`` (architecture JSON/YAML), at most ``max_bytes`` long."""
    name = os.fsdecode(path)
    fd, st = open_regular(path, name)
    with os.fdopen(fd, "rb") as fh:
        if st.st_size > max_bytes:
            raise CorruptModelFileError(name, f"the {what} has {st.st_size} bytes, more than the limit of "
                                              f"{max_bytes} (raise it with gpunet.saving.config_limits)")
        raw = fh.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise CorruptModelFileError(name, f"the {what} grew past the limit of {max_bytes} bytes while read")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorruptModelFileError(name, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def check_fileobj(target, name):
    """Refuse a file object whose descriptor is not a regular file (an open FIFO or device)."""
    fileno = getattr(target, "fileno", None)
    if fileno is None:
        return
    try:
        mode = os.fstat(fileno()).st_mode
    except (OSError, ValueError, AttributeError, TypeError):
        return  # BytesIO and friends have no descriptor
    if not stat.S_ISREG(mode):
        raise not_regular(name, mode)


def open_h5(fileobj, **kwargs):
    """An h5py File reading the file open on ``fileobj`` (the descriptor `open_regular` checked), never
    another file put at its path meanwhile.

    Through ``/proc/self/fd/N`` where there is one (HDF5's own driver on the very same open file);
    through h5py's file-object driver otherwise, or when a save renamed a new file over the path
    since (HDF5 then cannot resolve the descriptor's path, and the reader keeps its file)."""
    proc = f"{_PROC_FD}/{fileobj.fileno()}"
    if os.path.isdir(_PROC_FD):
        try:
            return h5py.File(proc, "r", **kwargs)
        except OSError:
            fileobj.seek(0)
    return h5py.File(fileobj, "r", **kwargs)


def outside_link(group):
    """``(path, kind)`` of the first link in ``group`` (at any depth) that leads out of the file, else None.

    HDF5's link visit walks hard links only and reports soft, external and user-defined links
    without following them."""
    found = []

    def visit(name, info):
        if info.type not in (h5py.h5l.TYPE_HARD, h5py.h5l.TYPE_SOFT):
            found.append((name.decode("utf-8", "replace"), info.type))
            return 1  # stop the walk
        return None
    group.id.links.visit(visit, info=True)
    if not found:
        return None
    path, kind = found[0]
    prefix = group.name.rstrip("/")
    return f"{prefix}/{path}", "an external link" if kind == h5py.h5l.TYPE_EXTERNAL else "a user-defined link"


def check_links(group, name):
    """Raise `CorruptModelFileError` naming the link when ``group`` holds a link out of the file."""
    bad = outside_link(group)
    if bad is not None:
        path, kind = bad
        link = group.file.get(path, getlink=True)  # the link itself, not followed
        target = f" ({link.filename}:{link.path})" if isinstance(link, h5py.ExternalLink) else ""
        raise CorruptModelFileError(name, f"{path} is {kind} to another file{target}: refused (gpunet reads "
                                          f"only the file it was given)")
