"""Reductions over an axis, several axes or all of them, with their vector-Jacobian products.

``max``/``min`` share the gradient equally among tied maxima (TensorFlow's choice);
``std`` at zero variance has an undefined derivative (``nan``, as in TensorFlow).
``cumsum``/``cumprod`` run along one axis (Keras 2's default: the first); ``logsumexp``'s
gradient is the softmax over its axes.
``any``/``all``/``argmax``/``argmin`` give constants.
"""
import builtins

from .. import backend as B
from .tensor import Tensor, lift, raw, result
from . import elementwise as E


def _axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    out = []
    for a in axes:
        a = int(a)
        if not -ndim <= a < builtins.max(ndim, 1):
            raise ValueError(f"Reduction axis {a} is out of range for a tensor of rank {ndim}.")
        out.append(a % ndim if ndim else 0)
    return tuple(sorted(set(out)))


def _flat(x):
    from .shape_ops import flatten
    return flatten(x)


def _expand(g, shape, axes, keepdims):
    """``g`` (the reduced shape) broadcast back over ``shape``."""
    if not keepdims:
        kept = [1 if i in axes else n for i, n in enumerate(shape)]
        g = g.reshape(kept)
    return B.get_backend().xp.broadcast_to(g, shape)


def sum(x, axis=None, keepdims=False):  # noqa: A001 (Keras's name)
    """Sum over ``axis`` (an int, a tuple of ints or None for all)."""
    t = lift(x)
    shape, axes = t.shape, _axes(axis, t.ndim)
    out = t.data.sum(axis=axes, keepdims=keepdims)
    return result(out, (t, lambda g: _expand(g, shape, axes, keepdims)))


def mean(x, axis=None, keepdims=False):
    """Mean over ``axis``; integer and boolean input gives floatx (Keras 3's ``ops.mean``)."""
    t = E._floating(x)
    shape, axes = t.shape, _axes(axis, t.ndim)
    count = 1
    for a in axes:
        count *= shape[a]
    out = t.data.mean(axis=axes, keepdims=keepdims)
    return result(out, (t, lambda g: _expand(g / count, shape, axes, keepdims)))


def _extreme(x, axis, keepdims, reducer):
    t = lift(x)
    shape, axes = t.shape, _axes(axis, t.ndim)
    data = t.data
    out_kept = getattr(data, reducer)(axis=axes, keepdims=True)
    out = out_kept if keepdims else out_kept.reshape([n for i, n in enumerate(shape) if i not in axes])

    def vjp(g):
        hit = data == out_kept
        share = hit / hit.sum(axis=axes, keepdims=True)
        return share.astype(data.dtype, copy=False) * _expand(g, shape, axes, keepdims)
    return result(out, (t, vjp))


def max(x, axis=None, keepdims=False):  # noqa: A001
    """Maximum over ``axis``; tied maxima share the gradient equally."""
    return _extreme(x, axis, keepdims, "max")


def min(x, axis=None, keepdims=False):  # noqa: A001
    """Minimum over ``axis``; tied minima share the gradient equally."""
    return _extreme(x, axis, keepdims, "min")


def _product_of_others(xp, data, axes):
    """For each value, the product of the other values over ``axes``: exclusive running products
    from both ends (TensorFlow's reduce_prod gradient), so zeros give exact values, not ``0 / 0``."""
    keep = [i for i in range(data.ndim) if i not in axes]
    perm = keep + list(axes)
    moved = data.transpose(perm)
    flat = moved.reshape(moved.shape[:len(keep)] + (-1,))
    if flat.shape[-1] == 0:
        return xp.zeros(data.shape, data.dtype)
    ones = xp.ones(flat.shape[:-1] + (1,), data.dtype)
    left = xp.cumprod(xp.concatenate([ones, flat[..., :-1]], axis=-1), axis=-1)
    right = xp.flip(xp.cumprod(xp.concatenate([ones, xp.flip(flat, -1)[..., :-1]], axis=-1), axis=-1), -1)
    inverse = [perm.index(i) for i in range(data.ndim)]
    return (left * right).reshape(moved.shape).transpose(inverse)


def prod(x, axis=None, keepdims=False):
    """Product over ``axis``; the gradient is the product of the other values (exact with zeros)."""
    t = lift(x)
    shape, axes = t.shape, _axes(axis, t.ndim)
    xp = B.get_backend().xp
    out_kept = t.data.prod(axis=axes, keepdims=True)
    out = out_kept if keepdims else out_kept.reshape([n for i, n in enumerate(shape) if i not in axes])
    return result(out, (t, lambda g: _expand(g, shape, axes, keepdims) * _product_of_others(xp, t.data, axes)))


def _reverse_cumsum(xp, g, axis):
    """Running sums of ``g`` from the end of ``axis`` (the transpose of a running sum)."""
    return xp.flip(xp.cumsum(xp.flip(g, axis), axis=axis), axis)


def cumsum(x, axis=0):
    """Running sum along ``axis`` (Keras 2's ``K.cumsum``: the first axis unless told; None: over
    the flattened values, as Keras 3's ``ops.cumsum``)."""
    if axis is None:
        x, axis = _flat(x), 0
    t = lift(x)
    (ax,) = _axes(axis, t.ndim)
    xp = B.get_backend().xp
    # booleans count as int32 (Keras 3); cumsum in bool's own dtype would be a running logical or
    out = xp.cumsum(t.data, axis=ax, dtype="int32" if t.data.dtype.kind == "b" else t.data.dtype)
    return result(out, (t, lambda g: _reverse_cumsum(xp, g, ax)))


def cumprod(x, axis=0):
    """Running product along ``axis`` (the first unless told). The gradient is TensorFlow's,
    ``reverse_cumsum(g * cumprod) / x``: exact only where ``x`` has no zeros. None: flattened."""
    if axis is None:
        x, axis = _flat(x), 0
    t = lift(x)
    (ax,) = _axes(axis, t.ndim)
    xp, data = B.get_backend().xp, t.data
    out = xp.cumprod(data, axis=ax, dtype=data.dtype)
    return result(out, (t, lambda g: _reverse_cumsum(xp, g * out, ax) / data))


def logsumexp(x, axis=None, keepdims=False):
    """``log(sum(exp(x)))`` over ``axis``, computed stably as ``tf.reduce_logsumexp`` (the finite
    maximum subtracted first); the gradient is the softmax of ``x`` over ``axis``."""
    t = E._floating(x)
    shape, axes = t.shape, _axes(axis, t.ndim)
    xp, data = B.get_backend().xp, t.data
    top = data.max(axis=axes, keepdims=True)
    top = xp.where(xp.isfinite(top), top, 0).astype(data.dtype, copy=False)
    with xp.errstate(divide="ignore") if hasattr(xp, "errstate") else E._null():
        out_kept = xp.log(xp.exp(data - top).sum(axis=axes, keepdims=True)) + top
    out = out_kept if keepdims else out_kept.reshape([n for i, n in enumerate(shape) if i not in axes])
    return result(out, (t, lambda g: _expand(g, shape, axes, keepdims) * xp.exp(data - out_kept)))


def var(x, axis=None, keepdims=False):
    """Population variance over ``axis`` (Keras's ``K.var``), built from `mean` and `square`."""
    x = E._floating(x)
    centred = E.subtract(x, mean(x, axis=axis, keepdims=True))
    return mean(E.square(centred), axis=axis, keepdims=keepdims)


def std(x, axis=None, keepdims=False):
    """Population standard deviation over ``axis`` (``sqrt(var)``)."""
    return E.sqrt(var(x, axis=axis, keepdims=keepdims))


def any(x, axis=None, keepdims=False):  # noqa: A001
    """True where any value along ``axis`` is non-zero (a constant)."""
    data = raw(x)
    return Tensor(data.astype(bool).any(axis=_axes(axis, data.ndim), keepdims=keepdims))


def all(x, axis=None, keepdims=False):  # noqa: A001
    """True where every value along ``axis`` is non-zero (a constant)."""
    data = raw(x)
    return Tensor(data.astype(bool).all(axis=_axes(axis, data.ndim), keepdims=keepdims))


def argmax(x, axis=-1):
    """Index of the largest value along ``axis`` (a constant)."""
    return Tensor(B.get_backend().xp.argmax(raw(x), axis=axis))


def argmin(x, axis=-1):
    """Index of the smallest value along ``axis`` (a constant)."""
    return Tensor(B.get_backend().xp.argmin(raw(x), axis=axis))
