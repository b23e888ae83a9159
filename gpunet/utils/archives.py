"""Archive extraction for ``get_file(extract=True)`` / ``untar=True``, refusing what could
write outside the target directory.

Every member is checked before anything is written: a member that is absolute, has a ``..``
component, is placed through a symbolic link, is a device file or FIFO, or is a link whose
target lies outside the extraction directory raises ``ValueError`` naming it (tf.keras 2
extracts such members, or silently skips some). Extraction goes to a temporary directory
beside the target whose entries are renamed into place only once it is complete.
"""
import os
import shutil
import tarfile
import tempfile
import zipfile


def _archive_formats(archive_format):
    if archive_format is None:
        return []
    if archive_format == "auto":
        return ["tar", "zip"]
    formats = [archive_format] if isinstance(archive_format, str) else list(archive_format)
    for kind in formats:
        if kind not in ("tar", "zip"):
            raise ValueError(f"archive_format must be 'auto', 'tar', 'zip', a list of these or None, "
                             f"received {archive_format!r}")
    return formats


def extract_archive(file_path, path=".", archive_format="auto"):
    """Extract a tar (tar.gz, tar.bz2) or zip archive into ``path``; False if it is neither.

    Every member is checked first (see this module's docstring); the archive is extracted into a
    temporary directory inside ``path``, whose entries are then renamed into place.
    """
    file_path, path = os.fspath(file_path), os.fspath(path)
    for kind in _archive_formats(archive_format):
        if kind == "tar" and tarfile.is_tarfile(file_path):
            opener, extract = tarfile.open, _extract_tar
        elif kind == "zip" and zipfile.is_zipfile(file_path):
            opener, extract = zipfile.ZipFile, _extract_zip
        else:
            continue
        staging = tempfile.mkdtemp(prefix=".extracting-", dir=path)
        try:
            with opener(file_path) as archive:
                extract(archive, staging)
            _move_into_place(staging, path)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return True
    return False


def _refuse(name, why):
    raise ValueError(f"Refusing to extract archive member {name!r}: {why}. The archive may be malicious; "
                     "nothing was extracted.")


def _member_parts(name):
    """The path components of a member name, refusing absolute names and ``..``."""
    if name.startswith(("/", "\\")) or (name[:1].isalpha() and name[1:2] == ":"):
        _refuse(name, "its path is absolute")
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if ".." in parts:
        _refuse(name, "its path contains '..'")
    return parts


def _resolve_link(parts, start, links, depth=0):
    """Where ``parts``, taken from directory ``start``, lands once the archive's own symlinks are
    followed (None: outside the extraction directory)."""
    out = list(start)
    for part in parts:
        if part in ("", "."):
            continue
        if part == "..":
            if not out:
                return None
            out.pop()
            continue
        out.append(part)
        target = links.get("/".join(out))
        if target is not None:
            if depth > 40 or target.startswith("/"):
                return None
            out = _resolve_link(target.split("/"), out[:-1], links, depth + 1)
            if out is None:
                return None
    return out


def _extract_tar(archive, dest):
    members = archive.getmembers()
    links = {"/".join(_member_parts(m.name)): m.linkname for m in members if m.issym()}
    for m in members:
        parts = _member_parts(m.name)
        if not (m.isreg() or m.isdir() or m.issym() or m.islnk()):
            _refuse(m.name, "it is a device file, FIFO or other special file")
        if any("/".join(parts[:i]) in links for i in range(1, len(parts))):
            _refuse(m.name, "its path goes through a symbolic link")
        if m.issym() or m.islnk():
            # A symlink's target is taken from its own directory, a hard link's from the root.
            start, kind = (parts[:-1], "symbolic") if m.issym() else ([], "hard")
            if m.linkname.startswith("/") or _resolve_link(m.linkname.split("/"), start, links) is None:
                _refuse(m.name, f"it is a {kind} link to {m.linkname!r}, outside the extraction directory")
    # Python's own "data" filter as a second line of defence, where this Python has it.
    kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
    try:
        archive.extractall(dest, members=members, **kwargs)
    except getattr(tarfile, "FilterError", ()) as e:
        _refuse(e.tarinfo.name, str(e))


def _extract_zip(archive, dest):
    for name in archive.namelist():
        _member_parts(name)
    archive.extractall(dest)


def _move_into_place(staging, path):
    """Rename the extracted entries into ``path``, merging into existing directories and
    replacing files, as tf.keras's in-place extraction would leave them."""
    for name in os.listdir(staging):
        src, dst = os.path.join(staging, name), os.path.join(path, name)
        src_dir = os.path.isdir(src) and not os.path.islink(src)
        dst_dir = os.path.isdir(dst) and not os.path.islink(dst)
        if src_dir and dst_dir:
            _move_into_place(src, dst)
            continue
        # A link already at dst is replaced, never written through.
        if dst_dir:
            shutil.rmtree(dst)
        elif src_dir and os.path.lexists(dst):
            os.remove(dst)
        os.replace(src, dst)
