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


def windows(length, size, stride, dilation, padding):
    """``(left, right, index, inside)`` for sliding windows of ``size`` steps over an axis of ``length``
    (the convolutions' and poolings', Keras's output lengths): the zeros padded on each side, the ``(outputs,
    size)`` positions each window reads in the padded axis, and which of them are inside the axis."""
    span = dilation * (size - 1) + 1
    if padding == "same":
        out = -(-length // stride)
        total = max((out - 1) * stride + span - length, 0)
        left, right = total // 2, total - total // 2
    elif padding == "causal":
        left, right = span - 1, 0
        out = (length + left - span) // stride + 1
    else:
        left = right = 0
        out = (length - span) // stride + 1
    if out < 1:
        raise ValueError(f"A window of {span} step(s) does not fit an axis of {length} ({padding} padding): "
                         "the output would be empty.")
    index = numpy.arange(out)[:, None] * stride + numpy.arange(size)[None, :] * dilation
    positions = numpy.arange(length + left + right)
    return left, right, index, ((positions >= left) & (positions < left + length))[index]


def window_plan(lengths, sizes, strides, dilations, padding):
    """``(plan, counts)`` for windows over several axes (autodiff/windows.py's ``plan``: one ``(left, right,
    size, stride, dilation, outputs)`` per axis) and how many positions of each window lie inside the input
    (``outputs``-shaped, for the average pooling's divisor)."""
    plan, counts = [], numpy.ones((), "int64")
    for length, size, stride, dilation in zip(lengths, sizes, strides, dilations):
        left, right, index, inside = windows(length, size, stride, dilation, padding)
        plan.append((left, right, size, stride, dilation, index.shape[0]))
        counts = numpy.multiply.outer(counts, inside.sum(axis=1))
    return tuple(plan), counts


def kernel_slices(plan):
    """For each kernel position of a `window_plan`, in row-major order, the slices of the padded input that
    position's outputs read (one per spatial axis)."""
    import itertools
    for offsets in itertools.product(*[range(size) for _, _, size, _, _, _ in plan]):
        yield tuple(slice(o * dilation, o * dilation + stride * (out - 1) + 1, stride)
                    for o, (_, _, _, stride, dilation, out) in zip(offsets, plan))
