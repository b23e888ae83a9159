"""Fetching and reading the dataset files, without unrestricted pickle.

Numeric ``.npy`` members are read with ``allow_pickle=False``. Two formats cannot avoid pickle:
the ragged sequences of IMDB and Reuters are ``dtype=object`` arrays, which NumPy stores as a
pickle stream, and the CIFAR batches are pickled dicts. Those are read with
``RestrictedUnpickler``, which resolves only the globals that rebuild a NumPy array
(``numpy.ndarray``, ``numpy.dtype`` and ``numpy.(_)core.multiarray._reconstruct``, as Keras 3's
``npz_utils``) and refuses any other with ``pickle.UnpicklingError`` naming it, so a tampered
file cannot run code through a ``__reduce__`` gadget. This is the one place gpunet unpickles.
"""
import io
import os
import pickle
import zipfile

import numpy as np

from ..utils.data_utils import get_file

try:
    from numpy._core.multiarray import _reconstruct
except ImportError:  # NumPy < 2
    from numpy.core.multiarray import _reconstruct

# Resolved here rather than imported by name: the pickles written by NumPy < 2 (and the
# Python 2 CIFAR files) say numpy.core, which NumPy 2 only reaches through a deprecation shim.
_ALLOWED_GLOBALS = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
}


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that rebuilds NumPy arrays and plain Python data, and nothing else."""

    def find_class(self, module, name):
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"Refusing to unpickle the global '{module}.{name}' while loading a dataset: only "
                "numpy.ndarray, numpy.dtype and numpy's multiarray._reconstruct are allowed. "
                "The file may be corrupted or malicious.") from None


def _read_header(fp):
    version = np.lib.format.read_magic(fp)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(fp)
    if version in ((2, 0), (3, 0)):
        # 3.0 only differs from 2.0 in the header's text encoding (UTF-8), which 2.0's reader accepts.
        return np.lib.format.read_array_header_2_0(fp)
    raise ValueError(f"Unsupported .npy format version {version}, expected 1.0, 2.0 or 3.0")


def load_npy(fp, name="array"):
    """One ``.npy`` stream (seekable): numeric data without pickle, object data restricted."""
    shape, _, dtype = _read_header(fp)
    if not dtype.hasobject:
        fp.seek(0)
        return np.lib.format.read_array(fp, allow_pickle=False)
    array = RestrictedUnpickler(fp).load()
    if not isinstance(array, np.ndarray) or array.shape != shape or array.dtype != dtype:
        raise pickle.UnpicklingError(
            f"{name}: the header announces an array of shape {shape} and dtype {dtype}, but the pickled "
            f"data holds {type(array).__name__} {getattr(array, 'shape', '')} {getattr(array, 'dtype', '')}")
    return array


def load_npz(path):
    """The arrays of an ``.npz`` file as ``{name: array}``, as ``np.load(path)`` gives them but
    without unrestricted pickle."""
    arrays = {}
    with zipfile.ZipFile(path) as archive:
        for member in archive.namelist():
            if member.endswith(".npy"):
                with archive.open(member) as raw:
                    arrays[member[:-len(".npy")]] = load_npy(io.BytesIO(raw.read()), f"{path}:{member}")
    return arrays


def load_batch(fpath, label_key="labels"):
    """One CIFAR batch file as ``(data, labels)``, data reshaped to ``(n, 3, 32, 32)`` (tf.keras's
    ``datasets.cifar.load_batch``, with the restricted unpickler)."""
    with open(fpath, "rb") as f:
        d = RestrictedUnpickler(f, encoding="bytes").load()
    if not isinstance(d, dict):
        raise ValueError(f"{fpath}: expected a pickled dict of a CIFAR batch, received {type(d).__name__}")
    d = {k.decode("utf8") if isinstance(k, bytes) else k: v for k, v in d.items()}
    for key in ("data", label_key):
        if key not in d:
            raise ValueError(f"{fpath}: the CIFAR batch has no {key!r} entry (it has {sorted(d)})")
    data = d["data"]
    return data.reshape(data.shape[0], 3, 32, 32), d[label_key]


def cached_file(fname, origin, file_hash=None, cache_dir=None, **kwargs):
    """``get_file`` after creating ``cache_dir`` (as each tf.keras ``load_data`` does)."""
    if cache_dir:
        cache_dir = os.path.expanduser(cache_dir)
        os.makedirs(cache_dir, exist_ok=True)
    return get_file(fname, origin=origin, file_hash=file_hash, cache_dir=cache_dir, **kwargs)
