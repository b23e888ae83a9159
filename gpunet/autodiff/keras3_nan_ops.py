"""Keras 3's NaN-ignoring reductions (``nansum``, ``nanmean``, ``nanmax``, ``nanvar``, ``nancumsum``,
``nanargmax``...) and its quantiles (``median``, ``quantile``, ``percentile`` and their ``nan`` forms), composed
from gpunet's taped ops, so they differentiate as Keras 3 on torch does (tests/test_keras3_numpy_ops.py): a NaN
entry gets no gradient; a quantile's gradient goes to the one or two sorted entries it interpolates.

A slice that is all NaN gives NaN (``nanargmax``: -1) and, unlike torch's NaN, a gradient of 0 there.
"""
import builtins
import math

from .. import backend as B
from . import elementwise as E
from .elementwise import _floating as _float
from .math_ops import _xp
from .reductions import _axes, cumprod, cumsum, max, min, prod, sum
from .shape_ops import getitem, reshape, transpose
from .tensor import Tensor, is_tensor, lift, result, value_of

_METHODS = ("linear", "lower", "higher", "midpoint", "nearest")


def _filled(x, fill):
    """``x`` with its NaNs replaced by ``fill``; those entries get no gradient."""
    t = lift(x)
    if t.dtype.kind not in "fc":
        return t
    xp = _xp()
    nan = xp.isnan(t.data)
    return result(xp.where(nan, fill, t.data), (t, lambda g: xp.where(nan, 0, g)))


def _nan_where(empty, out):
    """``out``, NaN where ``empty`` (a slice with no number in it)."""
    return E.where(empty, math.nan, out)


def _count(t, axis, keepdims):
    """How many entries along ``axis`` are not NaN, as a float constant array."""
    return (~_xp().isnan(t.data)).sum(axis=_axes(axis, t.ndim), keepdims=keepdims).astype(t.dtype)


def nansum(x, axis=None, keepdims=False):
    """The sum over ``axis`` with NaNs counted as 0; booleans and small integers sum in int32 (Keras 3)."""
    t = lift(x)
    if t.dtype.kind in "fc":
        return sum(_filled(t, 0), axis=axis, keepdims=keepdims)
    dtype = "int32" if t.dtype.kind == "b" or t.dtype.itemsize < 4 else t.dtype
    return Tensor(t.data.sum(axis=_axes(axis, t.ndim), keepdims=keepdims, dtype=dtype))


def nanmean(x, axis=None, keepdims=False):
    """The mean of the numbers over ``axis`` (integers in floatx), NaN where there are none."""
    t = _float(x)
    count = _count(t, axis, keepdims)
    xp = _xp()
    return _nan_where(count == 0, E.divide(sum(_filled(t, 0), axis=axis, keepdims=keepdims), xp.maximum(count, 1)))


def _extreme(x, axis, keepdims, reduce, fill):
    t = lift(x)
    if t.dtype.kind not in "fc":
        return reduce(t, axis=axis, keepdims=keepdims)
    empty = _xp().isnan(t.data).all(axis=_axes(axis, t.ndim), keepdims=keepdims)
    return _nan_where(empty, reduce(_filled(t, fill), axis=axis, keepdims=keepdims))


def nanmax(x, axis=None, keepdims=False):
    """The largest number over ``axis``, NaNs ignored (NaN where all are); ties share the gradient."""
    return _extreme(x, axis, keepdims, max, -math.inf)


def nanmin(x, axis=None, keepdims=False):
    """The smallest number over ``axis``, NaNs ignored (NaN where all are); ties share the gradient."""
    return _extreme(x, axis, keepdims, min, math.inf)


def nanprod(x, axis=None, keepdims=False):
    """The product over ``axis`` with NaNs counted as 1."""
    return prod(_filled(x, 1), axis=axis, keepdims=keepdims)


def nanvar(x, axis=None, keepdims=False):
    """The population variance of the numbers over ``axis`` (integers in floatx), NaN where there are none."""
    t = _float(x)
    count = _count(t, axis, keepdims)
    centred = _filled(E.subtract(t, nanmean(t, axis=axis, keepdims=True)), 0)
    spread = sum(E.square(centred), axis=axis, keepdims=keepdims)
    return _nan_where(count == 0, E.divide(spread, _xp().maximum(count, 1)))


def nanstd(x, axis=None, keepdims=False):
    """The population standard deviation of the numbers over ``axis`` (``sqrt(nanvar)``)."""
    return E.sqrt(nanvar(x, axis=axis, keepdims=keepdims))


def _cast(t, dtype):
    return t if dtype is None else E.cast(t, dtype)


def nancumsum(x, axis=None, dtype=None):
    """The running sum along ``axis`` (flattened where None) with NaNs counted as 0. Infinities stay infinite
    (NumPy's and Keras 3 on NumPy/JAX; Keras 3 on torch also clips them to the largest float)."""
    return _cast(cumsum(_filled(x, 0), axis=axis), dtype)


def nancumprod(x, axis=None, dtype=None):
    """The running product along ``axis`` (flattened where None) with NaNs counted as 1; the gradient is
    `cumprod`'s (exact where there are no zeros)."""
    return _cast(cumprod(_filled(x, 1), axis=axis), dtype)


def _nan_arg(x, axis, keepdims, pick, fill):
    data, xp = lift(x).data, _xp()
    ndim = data.ndim
    if data.dtype.kind in "fc":
        nan = xp.isnan(data)
        out = xp.where(nan.all(axis=axis), -1, pick(xp.where(nan, fill, data), axis=axis))
    else:
        out = pick(data, axis=axis)
    out = out.astype("int32")
    if keepdims:
        out = out.reshape((1,) * ndim) if axis is None else xp.expand_dims(out, axis)
    return Tensor(out)


def nanargmax(x, axis=None, keepdims=False):
    """The index of the largest number along ``axis`` (flattened where None), NaNs ignored; -1 where all are NaN
    (int32, a constant)."""
    return _nan_arg(x, axis, keepdims, _xp().argmax, -math.inf)


def nanargmin(x, axis=None, keepdims=False):
    """The index of the smallest number along ``axis`` (flattened where None), NaNs ignored; -1 where all are
    NaN (int32, a constant)."""
    return _nan_arg(x, axis, keepdims, _xp().argmin, math.inf)


def _fractions(q, name, scale):
    """``q`` (a number, a list, or a 0-D or 1-D array or tensor) as host floats divided by ``scale``, and whether
    it was a scalar."""
    if isinstance(q, (int, float)):
        values = q
    elif isinstance(q, (list, tuple)):
        values = [v if isinstance(v, (list, tuple)) else float(v) for v in q]
    else:
        values = B.get_backend().to_host(value_of(q) if is_tensor(q) else B.get_backend().asarray(q)).tolist()
    scalar = not isinstance(values, list)
    if not scalar and builtins.any(isinstance(v, list) for v in values):
        raise ValueError(f"{name}: q must be a scalar or 1-D, received {q!r}")
    values = [float(values)] if scalar else values
    if not builtins.all(0 <= v <= scale for v in values):
        raise ValueError(f"{name}: q must be within [0, {scale}], received {q!r}")
    return [v / scale for v in values], scalar


def _quantile(x, q, axis, method, keepdims, name, scale, skip_nan):
    if method not in _METHODS:
        raise ValueError(f"{name}: method must be one of {', '.join(_METHODS)}; received {method!r}")
    fractions, scalar = _fractions(q, name, scale)
    t = _float(x)
    shape, reduced = t.shape, _axes(axis, t.ndim)
    kept = [d for d in range(t.ndim) if d not in reduced]
    rows, n = math.prod(shape[d] for d in kept), math.prod(shape[d] for d in reduced)
    y = reshape(transpose(t, kept + list(reduced)), (rows, n))  # each row: one slice to take quantiles of
    xp = _xp()
    nan = xp.isnan(y.data)
    order = xp.argsort(y.data, axis=-1)  # NaNs sort last
    count = (n - nan.sum(axis=-1)) if skip_nan else xp.full(rows, n)
    position = xp.asarray(fractions, dtype="float64")[None, :] * (count[:, None] - 1.0)
    lo, hi = xp.floor(position), xp.ceil(position)
    weight = position - lo
    if method in ("lower", "higher", "nearest"):
        lo = hi = {"lower": lo, "higher": hi, "nearest": xp.rint(position)}[method]  # nearest: halves to even
    elif method == "midpoint":
        weight = xp.full(position.shape, 0.5)
    row = xp.arange(rows)[:, None]
    top = xp.maximum(count[:, None] - 1, 0)

    def pick(at):  # the sorted slice's entry at `at`, its gradient going back to where it came from
        return getitem(y, (row, order[row, xp.clip(at, 0, top).astype("int64")]))
    below, above = pick(lo), pick(hi)
    out = E.add(below, E.multiply(E.subtract(above, below), weight.astype(t.dtype)))
    out = _nan_where(((count == 0) if skip_nan else nan.any(axis=-1))[:, None], out)
    out_shape = [1 if d in reduced else shape[d] for d in range(t.ndim)] if keepdims else [shape[d] for d in kept]
    out = reshape(transpose(out), [len(fractions)] + out_shape)
    return reshape(out, out_shape) if scalar else out


def quantile(x, q, axis=None, method="linear", keepdims=False):
    """The ``q``-th quantiles (``q`` in [0, 1], a number or 1-D: a leading axis) over ``axis`` (all where None),
    ``method`` "linear", "lower", "higher", "midpoint" or "nearest"; NaN where a slice has a NaN."""
    return _quantile(x, q, axis, method, keepdims, "quantile", 1, False)


def percentile(x, q, axis=None, method="linear", keepdims=False):
    """`quantile` with ``q`` in [0, 100]."""
    return _quantile(x, q, axis, method, keepdims, "percentile", 100, False)


def median(x, axis=None, keepdims=False):
    """The median over ``axis`` (the mean of the middle two for an even count)."""
    return _quantile(x, 0.5, axis, "linear", keepdims, "median", 1, False)


def nanquantile(x, q, axis=None, method="linear", keepdims=False):
    """`quantile` of the numbers, NaNs ignored (NaN where a slice has none)."""
    return _quantile(x, q, axis, method, keepdims, "nanquantile", 1, True)


def nanpercentile(x, q, axis=None, method="linear", keepdims=False):
    """`percentile` of the numbers, NaNs ignored (NaN where a slice has none)."""
    return _quantile(x, q, axis, method, keepdims, "nanpercentile", 100, True)


def nanmedian(x, axis=None, keepdims=False):
    """`median` of the numbers, NaNs ignored (NaN where a slice has none)."""
    return _quantile(x, 0.5, axis, "linear", keepdims, "nanmedian", 1, True)


__all__ = ["nansum", "nanmean", "nanmax", "nanmin", "nanprod", "nanvar", "nanstd", "nancumsum", "nancumprod",
           "nanargmax", "nanargmin", "quantile", "percentile", "median", "nanquantile", "nanpercentile",
           "nanmedian"]
