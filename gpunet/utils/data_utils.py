"""``get_file`` (``gpunet.utils.get_file``): Keras 2's download cache, made safe.

Same cache as Keras (``$KERAS_HOME``, else ``~/.keras``), so files that Keras already downloaded
are reused. Two things are done better than tf.keras 2:

- A download goes to a hidden temporary file beside the target, its hash is checked, and only
  then is it renamed over the final name. A failed, interrupted or corrupted download never
  leaves a partial file under the final name and never replaces a good cached file.
- Archives are checked before anything is written (archives.py): a member that is absolute, has
  a ``..`` component, is placed through a symbolic link, is a device file or FIFO, or is a link
  whose target lies outside the extraction directory raises ``ValueError`` naming it. Extraction
  goes to a temporary directory beside the target that is moved into place only once complete.
"""
import hashlib
import http.client
import os
import secrets
import tempfile
import urllib.error
import urllib.parse
import urllib.request

from ..callbacks.progbar import Progbar
from .archives import extract_archive as _extract_archive

_CHUNK = 65535
_HASH_ALGORITHMS = ("auto", "sha256", "md5")


def get_file(fname=None, origin=None, untar=False, md5_hash=None, file_hash=None, cache_subdir="datasets",
             hash_algorithm="auto", extract=False, archive_format="auto", cache_dir=None):
    """Download a file from a URL unless it is already in the cache (Keras's ``utils.get_file``).

    The file at ``origin`` is saved as ``<cache_dir>/<cache_subdir>/<fname>``, by default
    ``~/.keras/datasets/<fname>`` (``$KERAS_HOME`` replaces ``~/.keras``; when neither is
    writable, ``/tmp/.keras`` is used, as tf.keras does). A cached file whose hash does not match
    ``file_hash`` is downloaded again.

    Args:
        fname: file name, or a path relative to the cache directory (absolute paths are used as
            they are). None: the last component of ``origin``'s path.
        origin: URL of the file.
        untar: deprecated in favour of ``extract``: ``fname`` names the directory that the
            tar archive ``<fname>.tar.gz`` extracts to, and that directory's path is returned.
        md5_hash: deprecated in favour of ``file_hash``: the file's md5 hash.
        file_hash: expected sha256 or md5 hash (hex) of the file.
        cache_subdir: subdirectory of the cache directory (absolute paths are used as they are).
        hash_algorithm: ``'auto'`` (sha256 for a 64-character hash, else md5), ``'sha256'`` or
            ``'md5'``.
        extract: extract the file as an archive into the directory holding it (the archive's
            path is still what is returned, as in tf.keras).
        archive_format: ``'auto'`` (``['tar', 'zip']``), ``'tar'`` (tar, tar.gz, tar.bz2),
            ``'zip'``, a list of these, or None (no extraction).
        cache_dir: the cache directory; None: ``$KERAS_HOME`` or ``~/.keras``.

    Returns:
        The path of the downloaded file (with ``untar``: of the extracted directory).

    Raises:
        Exception: ``"URL fetch failure on <origin>: ..."`` when the download fails; the message
            names the local path where a copy obtained by hand can be placed.
        ValueError: a downloaded file whose hash is not ``file_hash`` (expected and received
            hashes are named), or an archive member that would land outside the target directory.
    """
    if origin is None:
        raise ValueError('Please specify the "origin" argument (URL of the file to download).')
    if md5_hash is not None and file_hash is None:
        file_hash, hash_algorithm = md5_hash, "md5"
    if hash_algorithm not in _HASH_ALGORITHMS:
        raise ValueError(f"hash_algorithm must be one of {_HASH_ALGORITHMS}, received {hash_algorithm!r}")
    datadir = os.path.join(_cache_base(cache_dir), os.fspath(cache_subdir))
    os.makedirs(datadir, exist_ok=True)

    fname = os.fspath(fname) if fname is not None else None
    if not fname:
        fname = os.path.basename(urllib.parse.urlsplit(origin).path)
        if not fname:
            raise ValueError(f"Can't parse the file name from the origin provided: '{origin}'. "
                             "Please specify the `fname` as the input param.")
    if untar:
        if fname.endswith(".tar.gz"):
            fname = fname[:-len(".tar.gz")]
        untar_fpath = os.path.join(datadir, fname)
        fpath = untar_fpath + ".tar.gz"
    else:
        fpath = os.path.join(datadir, fname)
    # fname may name subdirectories of the cache, which tf.keras would fail to write into.
    os.makedirs(os.path.dirname(fpath), exist_ok=True)

    if _needs_download(fpath, file_hash, hash_algorithm):
        _download(origin, fpath, file_hash, hash_algorithm)

    if untar:
        if not os.path.exists(untar_fpath) and not _extract_archive(fpath, datadir, archive_format="tar"):
            raise ValueError(f"untar=True expects a tar archive, but {fpath} (from {origin}) is not one")
        return untar_fpath
    if extract:
        _extract_archive(fpath, datadir, archive_format)
    return fpath


def _cache_base(cache_dir):
    if cache_dir is None:
        cache_dir = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    base = os.path.expanduser(os.fspath(cache_dir))
    # Created first: tf.keras falls back to /tmp merely because ~/.keras does not exist yet.
    try:
        os.makedirs(base, exist_ok=True)
    except OSError:
        pass
    if not os.access(base, os.W_OK):
        base = os.path.join("/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir(), ".keras")
    return base


def _resolve_hasher(algorithm, file_hash=None):
    if algorithm == "sha256" or (algorithm == "auto" and file_hash is not None and len(str(file_hash)) == 64):
        return hashlib.sha256()
    return hashlib.md5()


def _hash_file(fpath, algorithm="sha256", chunk_size=_CHUNK):
    """The hex sha256 or md5 hash of a file (``algorithm``: a name or a hashlib object)."""
    hasher = _resolve_hasher(algorithm) if isinstance(algorithm, str) else algorithm
    with open(fpath, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            hasher.update(chunk)
    return hasher.hexdigest()


def validate_file(fpath, file_hash, algorithm="auto", chunk_size=_CHUNK):
    """Whether the file's sha256 or md5 hash is ``file_hash`` (Keras's ``validate_file``)."""
    hasher = _resolve_hasher(algorithm, file_hash)
    return _hash_file(fpath, hasher, chunk_size) == str(file_hash).lower()


def _needs_download(fpath, file_hash, algorithm):
    if not os.path.exists(fpath):
        return True
    if file_hash is not None and not validate_file(fpath, file_hash, algorithm):
        name = _resolve_hasher(algorithm, file_hash).name
        print(f"A local file was found, but it seems to be incomplete or outdated because the {name} file hash "
              f"does not match the original value of {file_hash} so we will re-download the data.")
        return True
    return False


def _download(origin, fpath, file_hash, algorithm):
    """Fetch ``origin`` into a hidden file beside ``fpath``, verify it, then rename it into place."""
    print(f"Downloading data from {origin}")
    part = os.path.join(os.path.dirname(fpath), f".{os.path.basename(fpath)}.{secrets.token_hex(6)}.part")
    hasher = _resolve_hasher(algorithm, file_hash)
    try:
        # "xb": a fresh file with the usual permissions (mkstemp's would be 0600).
        with open(part, "xb") as out:
            for chunk in _fetch(origin, fpath):
                out.write(chunk)
                hasher.update(chunk)
        received = hasher.hexdigest()
        if file_hash is not None and received != str(file_hash).lower():
            kept = "the cached file there was kept" if os.path.exists(fpath) else "nothing was saved there"
            raise ValueError(f"Incomplete or corrupted file detected: the {hasher.name} hash of the file "
                             f"downloaded from {origin} does not match the provided value. Expected "
                             f"{file_hash}, received {received}. It was not saved as {fpath}; {kept}.")
        os.replace(part, fpath)
    except BaseException:
        if os.path.exists(part):
            os.remove(part)
        raise


def _fetch(origin, fpath):
    """The body of ``origin`` in chunks, drawing a Progbar; a failure raises tf.keras's message."""
    def failure(reason):
        return Exception(f"URL fetch failure on {origin}: {reason}. To use a copy obtained another way, "
                         f"place it at {fpath}")
    try:
        response = urllib.request.urlopen(origin)
    except urllib.error.HTTPError as e:
        raise failure(f"{e.code} -- {e.msg}") from e
    except urllib.error.URLError as e:
        raise failure(f"{e.errno} -- {e.reason}") from e
    with response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        progbar, done = Progbar(total), 0
        while True:
            try:
                chunk = response.read(_CHUNK)
            except (http.client.HTTPException, OSError) as e:
                raise failure(f"download interrupted after {done} bytes ({e!r})") from e
            if not chunk:
                break
            done += len(chunk)
            progbar.update(done)
            yield chunk
    if total is not None and done < total:
        raise failure(f"download interrupted after {done} of {total} bytes")
    if not total:
        progbar.update(done, finalize=True)
