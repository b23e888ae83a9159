"""Host-side index arithmetic for gpunet.ops' indexing functions (autodiff/array_ops.py): which entries a
take, a repeat, a padding or a diagonal reads, as NumPy int64 arrays the caller hands to the active backend.
Kept here, at the backend's edge, so the ops themselves import no array library."""
import numpy


def host_ints(indices, ops, value, what):
    """Integer indices (an array, list, tensor's ``value`` or int) as a NumPy int64 array."""
    array = numpy.asarray(ops.to_host(value) if not isinstance(indices, (int, list, tuple)) else indices)
    if array.dtype.kind not in "iu":
        raise TypeError(f"{what} takes integer indices, received {array.dtype}")
    return array.astype("int64")


def axis_grid(n, ndim, axis, stretched):
    """``0 .. n-1`` along ``axis`` of an ``ndim``-axis index (zeros where the source axis has size 1 and is
    ``stretched`` by broadcasting)."""
    place = [1] * ndim
    place[axis] = n
    return (numpy.zeros(n, "int64") if stretched else numpy.arange(n)).reshape(place)


def repeated(n, repeats):
    """The indices of ``n`` entries each repeated ``repeats`` times (an int or one count each)."""
    return numpy.repeat(numpy.arange(n), repeats)


def pad_widths(pad_width, ndim):
    """``pad_width`` (an int, a pair, or a pair per axis) as ``[[before, after]] * ndim``."""
    return numpy.broadcast_to(numpy.asarray(pad_width, dtype="int64"), (ndim, 2)).tolist()


def padded(n, before, after, mode):
    """The entries NumPy's ``pad`` in ``mode`` copies into a padded axis of ``n`` entries."""
    return numpy.pad(numpy.arange(n), (before, after), mode=mode)


def diagonal(n, offset):
    """Rows and columns of the ``n`` entries of the ``offset``-th diagonal."""
    rows = numpy.arange(n) + max(0, -offset)
    return rows, rows + offset
