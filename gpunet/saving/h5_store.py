"""HDF5 helpers shared by both Keras layouts (`hdf5_legacy`, `keras_zip`).

Strings are read whatever h5py or Keras version wrote them (bytes, numpy.bytes_,
str, fixed or variable length, arrays of them). Arrays are written once,
contiguous, uncompressed and little-endian, with a checksum per dataset kept in
one attribute per group (``gpunet_sum64``): a flipped bit in the data becomes an
error on load instead of a silently different model. JSON attributes gpunet
writes carry a CRC too (``gpunet_attr_crc``).
"""
import json
import zlib

import numpy as np
import h5py

from . import limits
from .errors import InvalidConfigError

FORMAT_VERSION = 1  # gpunet_format_version: bump the major on incompatible layout changes
NUMERIC_KINDS = "biuf"


# ---- strings and JSON attributes -----------------------------------------------------------------
def text(value):
    """One string from an HDF5 attribute value of any flavour (bytes, numpy.bytes_, str, 0-d array)."""
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8")
    if isinstance(value, str):
        return value
    if isinstance(value, np.ndarray) and value.size == 1:
        return text(value.reshape(()).item())
    if isinstance(value, h5py.Empty):
        return ""
    raise ValueError(f"expected a string attribute, found {type(value).__name__} {value!r:.80}")


def text_list(value):
    """A list of strings from an attribute holding an array (or a single string)."""
    if isinstance(value, np.ndarray):
        if value.size == 0:
            return []
        return [text(v) for v in value.reshape(-1)]
    if isinstance(value, h5py.Empty):
        return []
    return [text(value)]


_MISSING = object()


def attr(group, name, default=_MISSING):
    """``group.attrs[name]``, refused before it is read when it declares more bytes than any config may
    have (`limits.ConfigLimits.max_config_bytes`): h5py allocates what the attribute declares."""
    if name not in group.attrs:
        if default is _MISSING:
            raise KeyError(f"{group.name}: no attribute {name!r}")
        return default
    aid = h5py.h5a.open(group.id, name.encode("utf-8"))
    declared = limits.count(aid.shape or ()) * max(aid.dtype.itemsize, 1)
    if declared > limits.current().max_config_bytes:
        raise ValueError(f"attribute {name!r} of {group.name} declares {aid.shape} values of {aid.dtype} "
                         f"({declared} bytes), more than the limit of {limits.current().max_config_bytes} bytes")
    return group.attrs[name]


def json_attr(group, name):
    """A JSON attribute (None when absent), bounded like every config (see `limits`)."""
    if name not in group.attrs:
        return None
    try:
        return limits.parse_json(text(attr(group, name)), f"attribute {name!r}")
    except InvalidConfigError as exc:
        raise ValueError(str(exc)) from None


def put_json(group, name, value, sums):
    """Write ``value`` as a JSON attribute and record its CRC in ``sums``."""
    raw = json.dumps(value).encode("utf-8")
    group.attrs[name] = raw
    sums[name] = zlib.crc32(raw)


def check_json_sums(group, names=None):
    """Verify the CRCs gpunet stored for its JSON attributes (a flipped bit there is an error);
    only those in ``names`` when given."""
    if "gpunet_attr_crc" not in group.attrs:
        return
    sums = limits.parse_json(text(attr(group, "gpunet_attr_crc")), "attribute 'gpunet_attr_crc'")
    if not isinstance(sums, dict):
        raise ValueError("attribute 'gpunet_attr_crc' is not a JSON object")
    for name, crc in sums.items():
        if names is not None and name not in names:
            continue
        raw = attr(group, name, None)
        if raw is None or zlib.crc32(text(raw).encode("utf-8")) != crc:
            raise ValueError(f"attribute {name!r} fails its checksum")


def short_weight_name(name):
    """``"sequential/dense/kernel"`` or ``"dense/kernel:0"`` -> ``"kernel"``."""
    return name.rsplit("/", 1)[-1].split(":", 1)[0]



# ---- arrays ---------------------------------------------------------------------------------------
def little_endian(array):
    """A C-contiguous little-endian NumPy array (what gpunet writes, whatever the platform)."""
    array = np.asarray(array)
    if array.dtype.byteorder == ">" or (array.dtype.byteorder == "=" and not np.little_endian):
        array = array.astype(array.dtype.newbyteorder("<"))
    # Not np.ascontiguousarray: it turns 0-d arrays (iteration counters) into shape (1,).
    return array if array.flags.c_contiguous else array.copy(order="C")


def sum64(array):
    """A fast checksum of an array's bytes: the sum of its 64-bit words (mod 2**64) plus the tail.
    Any single flipped bit changes it."""
    array = np.asarray(array)
    raw = (array if array.flags.c_contiguous else array.copy(order="C")).reshape(-1).view(np.uint8)
    words = raw.size // 8
    total = int(raw[:words * 8].view(np.uint64).sum(dtype=np.uint64)) if words else 0
    tail = int.from_bytes(raw[words * 8:].tobytes(), "little")
    return (total + tail + raw.size) % (1 << 64)


def write_arrays(group, items):
    """Contiguous, uncompressed datasets ``[(name, array)]`` plus the group's checksum list."""
    sums = []
    for name, array in items:
        array = little_endian(array)
        group.create_dataset(name, data=array)
        sums.append(sum64(array))
    group.attrs["gpunet_sum64"] = np.array(sums, dtype=np.uint64)


def checksums(group, count):
    """The checksums `write_arrays` stored for ``group`` (Nones for files without them)."""
    if "gpunet_sum64" not in group.attrs:
        return [None] * count
    sums = np.asarray(attr(group, "gpunet_sum64")).reshape(-1)
    if sums.size != count:
        raise ValueError(f"{group.name}: {sums.size} checksums for {count} datasets")
    return [int(v) for v in sums]


class DamagedData(ValueError):
    """Stored bytes that fail their checksum."""


class FileWeight:
    """A weight stored in a file: its name, shape and dtype, read on demand (and verified)."""

    def __init__(self, name, dataset, checksum=None):
        if not isinstance(dataset, h5py.Dataset):
            raise ValueError(f"weight {name!r} is a {type(dataset).__name__}, not a dataset")
        if dataset.dtype.kind not in NUMERIC_KINDS:
            raise ValueError(f"weight {name!r} has non-numeric dtype {dataset.dtype}")
        if dataset.is_virtual or dataset.external:
            raise ValueError(f"weight {name!r} points outside the file (external or virtual dataset)")
        self.name, self.dataset, self.checksum = name, dataset, checksum
        self.shape = tuple(dataset.shape)
        self.dtype = dataset.dtype
        self.short = short_weight_name(name)

    def read(self):
        """The array, in the file's dtype, with its checksum verified when it has one."""
        ds = self.dataset
        array = np.empty(ds.shape, ds.dtype)
        if array.size:
            ds.read_direct(array)
        self._verify(array)
        return array.reshape(self.shape)

    def read_into(self, dest):
        """Read straight into the NumPy array ``dest`` (same dtype, C-contiguous), verified."""
        if dest.dtype != self.dtype or not dest.flags.c_contiguous or dest.size != self.dataset.size:
            dest[...] = self.read().reshape(dest.shape)
            return
        if dest.size:
            self.dataset.read_direct(dest.reshape(self.dataset.shape))
        self._verify(dest)

    def _verify(self, array):
        if self.checksum is not None and self.checksum != sum64(array):
            raise DamagedData(f"weight {self.name!r} fails its checksum (damaged data)")


class FileLayer:
    """A layer's weights as stored: ``name`` (real layer name, or None when the file has none),
    ``key`` (its group in the file) and ``weights`` (list of `FileWeight`).

    A nested model in Keras 3's layout has ``children`` (its layers, as FileLayers; ``weights``
    then lists theirs, in order); elsewhere ``children`` is None. A subclassed model's layers and a layer
    of your own's sublayers are its ``attrs`` (FileLayers keyed by path: saving/keras3_attrs.py; its own
    ``weights`` only). ``escaped``: gpunet wrote the names (see `hdf5_legacy.escape`)."""

    def __init__(self, name, key, weights, children=None, escaped=False, attrs=None):
        self.name, self.key, self.children, self.escaped, self.attrs = name, key, children, escaped, attrs
        self.weights = weights if children is None else weights + [w for c in children for w in c.weights]


# ---- versions -------------------------------------------------------------------------------------
def gpunet_version_of(h5):
    """The gpunet format version a file was written with (None for Keras's files)."""
    if "gpunet_format_version" not in h5.attrs:
        return None
    version = int(np.asarray(attr(h5, "gpunet_format_version")).reshape(()))
    if version > FORMAT_VERSION:
        written = text(attr(h5, "gpunet_version", b"a newer version"))
        raise ValueError(f"saved with gpunet {written} (file format {version}); this gpunet reads format "
                         f"{FORMAT_VERSION} and older: upgrade gpunet")
    return version


def stamp(h5, gpunet_version):
    h5.attrs["gpunet_format_version"] = np.int64(FORMAT_VERSION)
    h5.attrs["gpunet_version"] = gpunet_version.encode("utf-8")
