"""Sliding windows over the spatial axes of channels-last arrays ``(batch, *spatial, channels)``: the two
primitives the convolutions and poolings are made of, each the other's vector-Jacobian product.

`patches` gathers every window into ``(batch, *outputs, window, channels)`` (``window`` the kernel's
positions in row-major order, as Keras's kernels ``(*kernel_size, channels, filters)`` flatten); `fold` adds
such windows back into place (a position in several windows gets their sum): the gradient of `patches`,
and the forward of a transposed convolution. Both are one strided copy or add per kernel position on the
active backend's arrays (NumPy or CuPy), not a gather of precomputed indices, whose gradient would be a
scatter with atomics. `convolution` is a convolution of one group with a leaner input gradient;
`window_max` and `window_sum` reduce each window without gathering it (the poolings).
"""
from .. import backend as B
from ..backend.index_maps import kernel_slices as _kernel_slices
from .tensor import lift, result


def _padded_shape(shape, plan):
    """The padded spatial extent: the input with its zeros, and at least what the windows reach."""
    spatial = []
    for n, (left, right, size, stride, dilation, out) in zip(shape[1:-1], plan):
        spatial.append(max(left + n + right, (out - 1) * stride + dilation * (size - 1) + 1))
    return (shape[0],) + tuple(spatial) + (shape[-1],)


def _inner(shape, plan):
    return (slice(None),) + tuple(slice(left, left + n) for n, (left, *_) in zip(shape[1:-1], plan)) + (slice(None),)


def _pad(data, plan, pad_value):
    xp = B.get_backend().xp
    padded_shape = _padded_shape(data.shape, plan)
    if padded_shape == data.shape:
        return data
    padded = xp.full(padded_shape, pad_value, data.dtype)
    padded[_inner(data.shape, plan)] = data
    return padded


def _gather(data, plan, pad_value):
    return B.get_backend().gather_windows(_pad(data, plan, pad_value), plan)


def _scatter(cols, plan, shape):
    xp = B.get_backend().xp
    padded = xp.zeros(_padded_shape(shape, plan), cols.dtype)
    for k, slices in enumerate(_kernel_slices(plan)):
        padded[(slice(None),) + slices + (slice(None),)] += cols[(Ellipsis, k, slice(None))]
    return padded[_inner(shape, plan)]


def patches(x, plan, pad_value=0.0):
    """The windows of ``x`` ``(batch, *spatial, channels)`` as ``(batch, *outputs, window, channels)``;
    ``plan`` gives each spatial axis ``(left, right, size, stride, dilation, outputs)``, its padding filled
    with ``pad_value`` (the max pooling pads with -inf: padded positions never win)."""
    t = lift(x)
    shape = t.data.shape
    return result(_gather(t.data, plan, pad_value), (t, lambda g: _scatter(g, plan, shape)))


def fold(cols, plan, shape):
    """Windows ``(batch, *outputs, window, channels)`` added into an array of ``shape`` (channels last):
    `patches` transposed, so each input position receives the sum of the window entries that read it."""
    t = lift(cols)
    shape = tuple(shape)
    return result(_scatter(t.data, plan, shape), (t, lambda g: _gather(g, plan, 0.0)))


def convolution(x, kernel, plan, bias=None):
    """``x`` ``(batch, *spatial, channels)`` convolved with ``kernel`` ``(*kernel_size, channels, filters)``
    (one group), plus ``bias`` (None: none): the windows times the kernel in one matrix product. Its input
    gradient is one product per kernel position added into place, not the windows' whole gradient folded: a
    tenth of the memory for a 3 x 3 kernel, where that array is the largest of the step."""
    t, k = lift(x), lift(kernel)
    data, weights = t.data, k.data
    cols = _gather(data, plan, 0.0)
    window, channels, filters = cols.shape[-2], data.shape[-1], weights.shape[-1]
    flat = cols.reshape(-1, window * channels)
    out = flat @ weights.reshape(window * channels, filters)
    if bias is not None:
        out += lift(bias).data
    out = out.reshape(cols.shape[:-2] + (filters,))

    def grad_x(g):
        ops = B.get_backend()
        padded = ops.xp.zeros(_padded_shape(data.shape, plan), g.dtype)
        ops.add_window_products(padded, g, weights.reshape(window, channels, filters), plan)
        return padded[_inner(data.shape, plan)]

    def grad_kernel(g):
        return (flat.T @ g.reshape(-1, filters)).reshape(weights.shape)
    parents = [(t, grad_x), (k, grad_kernel)]
    if bias is not None:
        parents.append((lift(bias), lambda g: g.reshape(-1, filters).sum(axis=0)))
    return result(out, *parents)


def _each_window_position(data, plan, pad_value):
    """The padded input and, per kernel position, the index of the part of it that position's outputs read."""
    return _pad(data, plan, pad_value), [(slice(None),) + slices + (slice(None),) for slices in _kernel_slices(plan)]


def _overlapping(plan):
    return any(stride < dilation * (size - 1) + 1 for _, _, size, stride, dilation, _ in plan)


def window_max(x, plan):
    """The largest entry of each window of ``x`` (padding with -inf: it never wins), one running maximum over
    the kernel positions; the gradient goes to the first position holding it in row-major order
    (TensorFlow's MaxPoolGrad, PyTorch's max_pool: one position, not shared among ties; a window whose
    maximum is NaN sends it to its first position)."""
    t = lift(x)
    data = t.data
    xp = B.get_backend().xp
    padded, positions = _each_window_position(data, plan, -float("inf"))
    out = xp.maximum(padded[positions[0]], padded[positions[1]]) if len(positions) > 1 else padded[positions[0]].copy()
    for index in positions[2:]:
        xp.maximum(out, padded[index], out=out)  # (NaN propagates, as in PyTorch; TensorFlow's CPU kernel skips it)

    def vjp(g):
        # Which position wins is found here from the input and the maxima, not tracked in the forward pass:
        # the forward (predict's too) is then three maxima for a 2 x 2 window, a tenth of the time it took.
        grad = xp.zeros(padded.shape, g.dtype)
        overlapping = _overlapping(plan)
        taken, hit = xp.zeros(out.shape, bool), xp.empty(out.shape, bool)
        for k, index in enumerate(positions):
            xp.less(padded[index], out, out=hit)
            xp.logical_not(hit, out=hit)  # (holds the maximum, or the maximum is NaN)
            if k:
                xp.greater(hit, taken, out=hit)  # (and no earlier position holds it)
            if k < len(positions) - 1:
                xp.logical_or(taken, hit, out=taken)
            if overlapping:
                grad[index] += xp.where(hit, g, xp.zeros((), g.dtype))
            else:  # (each input position is in one window at most: no addition needed)
                xp.copyto(grad[index], g, where=hit)
        return grad[_inner(data.shape, plan)]
    return result(out, (t, vjp))


def window_sum(x, plan):
    """The sum of each window of ``x`` (zero padding), one addition per kernel position."""
    t = lift(x)
    data = t.data
    xp = B.get_backend().xp
    padded, positions = _each_window_position(data, plan, 0.0)
    out = padded[positions[0]].copy()
    for index in positions[1:]:
        out += padded[index]

    def vjp(g):
        grad = xp.zeros(padded.shape, g.dtype)
        for index in positions:
            grad[index] += g
        return grad[_inner(data.shape, plan)]
    return result(out, (t, vjp))
