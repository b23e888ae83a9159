"""Where saved bytes come from and go to: format sniffing, sources, atomic writes.

Formats are told apart by content (pitfall 23): the HDF5 signature or the zip
magic in the first bytes, never the extension. Every write lands in a temporary
file in the target's own folder, is flushed and fsynced, then renamed over the
target with `os.replace`, so a crash or a kill mid-save leaves the previous file
whole (pitfall 24). HDF5 files are opened without file locks (pitfall 25): the
rename makes concurrent readers safe.
"""
import contextlib
import io
import os
import re

import h5py

from . import damage, file_guards, targets, tempfiles
from .errors import CorruptModelFileError

HDF5_SIGNATURE = damage.HDF5_SIGNATURE
ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06")  # a member first, or an empty archive

# libver low bound 1.8: metadata checksums (bit flips in headers are caught) and
# attributes over 64 KB in dense storage; every HDF5 since 2008 reads it.
H5_LIBVER = ("v108", "v108")


def sniff(head):
    """The format of a file from its first bytes: "hdf5", "zip", "json", "yaml", "empty" or "unknown"."""
    if not head:
        return "empty"
    if head.startswith(HDF5_SIGNATURE):
        return "hdf5"
    if head.startswith(ZIP_SIGNATURES):
        return "zip"
    text = head.lstrip()
    if text[:1] in (b"{", b"["):
        return "json"
    if text[:1].isalpha() or text[:3] == b"---":
        return "yaml"
    return "unknown"


def describe(target):
    """A name for ``target`` in messages: its path, or what kind of object it is."""
    if isinstance(target, (h5py.File, h5py.Group)):
        return getattr(target.file, "filename", "<h5py object>")
    if isinstance(target, (str, os.PathLike)):
        return os.fsdecode(target)
    name = getattr(target, "name", None)
    return name if isinstance(name, str) else f"<{type(target).__name__}>"


def is_path(target):
    return isinstance(target, (str, os.PathLike))


class Source:
    """A readable saved file: ``kind`` ("hdf5" or "zip"), ``name`` for messages, the opened object
    (``h5``: an h5py File/Group; ``fileobj``: the zip archive's binary file) and ``size`` in bytes
    (None for an h5py object)."""

    def __init__(self, kind, name, h5=None, fileobj=None, size=None):
        self.kind, self.name, self.h5, self.fileobj, self.size = kind, name, h5, fileobj, size


@contextlib.contextmanager
def open_source(target):
    """Open ``target`` (path, os.PathLike, h5py File/Group or binary file object) for reading.

    Yields a `Source`. Raises FileNotFoundError for a missing path and
    `CorruptModelFileError` for anything that is not a readable HDF5 file or zip archive: a path
    that is not a regular file (FIFO, device, folder) is refused before anything is read from it,
    and an HDF5 file with a link to another file is refused before any object is read.
    """
    if isinstance(target, (h5py.File, h5py.Group)):
        name = describe(target)
        with _h5_errors(name):
            file_guards.check_links(target, name)
        yield Source("hdf5", name, h5=target)
        return
    name = describe(target)
    if is_path(target):
        fd, st = file_guards.open_regular(target, name)
        with os.fdopen(fd, "rb", buffering=0) as fh:
            head = fh.read(damage.HEAD_BYTES)
            kind = _check_kind(name, head, st.st_size)
            if kind == "zip":
                fh.seek(0)
                yield Source("zip", name, fileobj=fh, size=st.st_size)
                return
            with _h5_errors(name, st.st_size):
                h5 = file_guards.open_h5(fh, locking=False)
            try:
                with _h5_errors(name, st.st_size):
                    file_guards.check_links(h5, name)
                yield Source("hdf5", name, h5=h5, size=st.st_size)
            finally:
                h5.close()
        return
    if not all(hasattr(target, a) for a in ("read", "seek", "tell")):
        raise TypeError(f"Expected a path, an os.PathLike, an h5py.File/Group or a binary file object, "
                        f"received {type(target).__name__}")
    file_guards.check_fileobj(target, name)
    start = target.tell()
    head = target.read(damage.HEAD_BYTES)
    size = target.seek(0, io.SEEK_END) - start
    target.seek(start)
    if isinstance(head, str):
        raise TypeError(f"{name}: the file object is in text mode; open it with 'rb'")
    kind = _check_kind(name, head, size)
    if kind == "zip":
        yield Source("zip", name, fileobj=target, size=size)
        return
    # h5py needs the image to begin at offset 0 of the object it reads.
    fileobj = target if start == 0 else io.BytesIO(target.read())
    h5 = _open_h5(name, fileobj, size)
    try:
        with _h5_errors(name, size):
            file_guards.check_links(h5, name)
        yield Source("hdf5", name, h5=h5, size=size)
    finally:
        h5.close()


@contextlib.contextmanager
def _h5_errors(name, size=None):
    try:
        yield
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        if isinstance(exc, CorruptModelFileError):
            raise
        raise CorruptModelFileError(name, h5_problem(exc, size)) from None


def _check_kind(name, head, size):
    kind = sniff(head)
    if kind == "hdf5":
        problem = damage.hdf5_truncation(head, size)
        if problem is not None:
            raise CorruptModelFileError(name, problem)
        return kind
    if kind == "zip":
        return kind
    cut = damage.signature_prefix(head)
    if cut is not None:
        raise CorruptModelFileError(name, damage.truncated_signature(cut, size))
    if kind == "empty":
        raise CorruptModelFileError(name, "the file is empty (0 bytes): a save was interrupted or the "
                                    "download failed")
    if kind in ("json", "yaml"):
        raise CorruptModelFileError(name, f"detected {kind.upper()} text, not a saved model: architecture-only "
                                    f"files load with gpunet.models.model_from_{kind}()")
    raise CorruptModelFileError(name, f"bad signature {head[:8]!r}: neither an HDF5 file (\\x89HDF) nor a "
                                f".keras zip archive (PK\\x03\\x04); {size} bytes")


_TRUNCATED = re.compile(r"\beof = (\d+).*?stored_eof = (\d+)")


def _open_h5(name, target, size):
    try:
        return h5py.File(target, "r", locking=False)
    except (OSError, ValueError, RuntimeError) as exc:
        raise CorruptModelFileError(name, h5_problem(exc, size)) from None


def h5_problem(exc, size=None):
    """A readable sentence for an h5py/HDF5 error (truncation gets the expected vs actual size)."""
    text = str(exc)
    match = _TRUNCATED.search(text)
    if match:
        return (f"truncated: the file has {match.group(1)} bytes, its HDF5 header says "
                f"{match.group(2)} bytes")
    if "signature" in text:
        return "bad HDF5 signature or superblock"
    if size is not None:
        return f"damaged HDF5 structure ({size} bytes): {text}"
    return f"damaged HDF5 structure: {text}"


# ---- writing ---------------------------------------------------------------------------------
@contextlib.contextmanager
def atomic_path(target, overwrite=True):
    """Yield a temporary path beside ``target``; on success it replaces ``target`` atomically.

    The parent folder is created when missing. On any error the temporary file
    is removed and ``target`` is untouched; a failed write raises OSError with its errno and the
    target's path. The new file keeps the replaced one's mode (and owner where allowed); a symbolic
    link is followed (see `targets`). After a successful save, temporary files that killed saves of
    the same target left behind are removed (see `tempfiles`).
    """
    path, existing = targets.resolve(target, overwrite)
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    base = os.path.basename(path)
    try:
        tmp, lock = tempfiles.create(folder, base, targets.temp_mode(existing))
    except OSError as exc:  # name what the user asked for, not the temporary file's name
        raise type(exc)(exc.errno, f"{exc.strerror}: cannot write into the folder {folder!r}", path) from exc
    try:
        try:
            yield tmp
            _fsync_file(tmp)
            targets.carry_over(tmp, existing)
        except (OSError, RuntimeError) as exc:
            error = targets.write_error(exc, path)
            if error is None:
                raise
            raise error from exc
        targets.resolve(target, overwrite)  # still allowed (another process may have made it read-only)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    finally:
        if lock is not None:
            os.close(lock)
    _fsync_dir(folder)
    tempfiles.remove_stale(folder, base)


def _fsync_file(path):
    fd = os.open(path, os.O_RDWR | getattr(os, "O_BINARY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder):
    if os.name != "posix":
        return  # Windows cannot open a directory for fsync; os.replace is atomic there too.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_h5(target, overwrite=True):
    """Yield a writable h5py.File for ``target`` (path, file object or open h5py File/Group).

    Paths go through `atomic_path`; file objects receive the bytes only once the
    whole file is written. An open h5py object is written in place (the caller
    owns it), and what was added is removed again if the write fails.
    """
    if isinstance(target, (h5py.File, h5py.Group)):
        before_keys, before_attrs = set(target.keys()), set(target.attrs.keys())
        try:
            yield target
        except BaseException:
            for key in set(target.keys()) - before_keys:
                del target[key]
            for key in set(target.attrs.keys()) - before_attrs:
                del target.attrs[key]
            raise
        return
    if is_path(target):
        with atomic_path(target, overwrite) as tmp:
            with h5py.File(tmp, "w", libver=H5_LIBVER, locking=False) as h5:
                yield h5
        return
    with atomic_stream(target) as buffer:
        with h5py.File(buffer, "w", libver=H5_LIBVER) as h5:
            yield h5


@contextlib.contextmanager
def atomic_stream(target):
    """Yield a BytesIO; its bytes are written to the binary file object ``target`` on success."""
    if not hasattr(target, "write"):
        raise TypeError(f"Expected a path, an os.PathLike, an h5py.File/Group or a writable binary file object, "
                        f"received {type(target).__name__}")
    buffer = io.BytesIO()
    yield buffer
    target.write(buffer.getbuffer())
    if hasattr(target, "flush"):
        target.flush()
