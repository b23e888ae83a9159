"""Keras 3's ``keras.ops`` math that custom losses and layers reach for, beyond Keras 2's backend functions:
elementwise functions (``log1p``, ``erf``, ``rsqrt``, ...), ``norm``, ``moments`` and ``normalize``
(constants and indexing: array_ops.py); with their vector-Jacobian products where Keras 3 has a gradient
(checked against Keras 3 on torch: tests/test_keras3_ops.py). Rounding, comparisons and logical functions
give constants, as ``floor`` and ``isnan`` have no gradient.
"""
import builtins
import math

from .. import backend as B
from ..backend.erfc import erfc
from .elementwise import _floating as _float, abs, divide, maximum, minimum, multiply, power, square, subtract
from .reductions import max, mean, min, sum
from .shape_ops import expand_dims, squeeze
from .tensor import Tensor, lift, result, unbroadcast


def _xp():
    return B.get_backend().xp


def _unary(x, value, slope):
    """``value(xp, data)``, its gradient ``g * slope(xp, data, out)``."""
    t, xp = _float(x), _xp()
    out = value(xp, t.data)
    return result(out, (t, lambda g: g * slope(xp, t.data, out)))


def log1p(x):
    """``log(1 + x)``, exact for small ``x``."""
    return _unary(x, lambda xp, d: xp.log1p(d), lambda xp, d, out: 1.0 / (1.0 + d))


def expm1(x):
    """``exp(x) - 1``, exact for small ``x``."""
    return _unary(x, lambda xp, d: xp.expm1(d), lambda xp, d, out: out + 1.0)


def erf(x):
    """The error function (W. J. Cody's rational approximations: backend/erfc.py)."""
    return _unary(x, lambda xp, d: (1.0 - erfc(xp, d)).astype(d.dtype),
                  lambda xp, d, out: (2.0 / math.sqrt(math.pi)) * xp.exp(-d * d))


def rsqrt(x):
    """``1 / sqrt(x)``."""
    return _unary(x, lambda xp, d: 1.0 / xp.sqrt(d), lambda xp, d, out: -0.5 * out * out * out)


def reciprocal(x):
    """``1 / x``."""
    return _unary(x, lambda xp, d: 1.0 / d, lambda xp, d, out: -out * out)


def relu6(x):
    """``min(max(x, 0), 6)``; the gradient passes where ``0 < x < 6`` (TensorFlow's)."""
    return _unary(x, lambda xp, d: xp.minimum(xp.maximum(d, 0), 6).astype(d.dtype),
                  lambda xp, d, out: ((d > 0) & (d < 6)).astype(d.dtype))


def log_sigmoid(x):
    """``log(sigmoid(x)) = -softplus(-x)``, stable for large ``|x|``."""
    return _unary(x, lambda xp, d: -(xp.maximum(-d, 0) + xp.log1p(xp.exp(-xp.abs(d)))),
                  lambda xp, d, out: 1.0 - xp.exp(out))


def nan_to_num(x, nan=0.0, posinf=None, neginf=None):
    """NaN, inf and -inf replaced (by 0 and the dtype's largest numbers by default); the gradient passes
    where ``x`` was finite."""
    t = lift(x)
    xp = _xp()
    out = xp.nan_to_num(t.data, nan=nan, posinf=posinf, neginf=neginf)
    return result(out, (t, lambda g: g * xp.isfinite(t.data)))


def _constant(fn, *args):
    """``fn(xp, *arrays)`` as a tensor that takes no gradient (rounding, comparisons, logic)."""
    return Tensor(fn(_xp(), *[lift(a).data for a in args]))


def _floats(xp, x):
    return x if x.dtype.kind == "f" else x.astype(B.floatx())


def floor(x):
    """The largest integer not above ``x`` (no gradient)."""
    return _constant(lambda xp, d: xp.floor(_floats(xp, d)), x)


def ceil(x):
    """The smallest integer not below ``x`` (no gradient)."""
    return _constant(lambda xp, d: xp.ceil(_floats(xp, d)), x)


def floor_divide(x, y):
    """``floor(x / y)`` (no gradient)."""
    return _constant(lambda xp, a, b: xp.floor_divide(a, b), x, y)


def isnan(x):
    """Where ``x`` is NaN (bool)."""
    return _constant(lambda xp, d: xp.isnan(d), x)


def isinf(x):
    """Where ``x`` is inf or -inf (bool)."""
    return _constant(lambda xp, d: xp.isinf(d), x)


def isfinite(x):
    """Where ``x`` is neither NaN nor infinite (bool)."""
    return _constant(lambda xp, d: xp.isfinite(d), x)


def logical_and(x1, x2):
    """``x1 and x2`` elementwise (bool)."""
    return _constant(lambda xp, a, b: xp.logical_and(a, b), x1, x2)


def logical_or(x1, x2):
    """``x1 or x2`` elementwise (bool)."""
    return _constant(lambda xp, a, b: xp.logical_or(a, b), x1, x2)


def logical_xor(x1, x2):
    """``x1 != x2`` as truth values (bool)."""
    return _constant(lambda xp, a, b: xp.logical_xor(a, b), x1, x2)


def logical_not(x):
    """``not x`` elementwise (bool)."""
    return _constant(lambda xp, d: xp.logical_not(d), x)


def count_nonzero(x, axis=None):
    """How many entries are not 0 (int32)."""
    return _constant(lambda xp, d: xp.asarray(xp.count_nonzero(d, axis=axis), dtype="int32"), x)


def mod(x, y):
    """``x - floor(x / y) * y`` (the sign of ``y``, as Python's %); the gradient for ``y`` is
    ``-floor(x / y)``."""
    ta, tb = lift(x), lift(y)
    xp = _xp()
    out = xp.mod(ta.data, tb.data)
    return result(out, (ta, lambda g: unbroadcast(g, ta.shape)),
                  (tb, lambda g: unbroadcast(-g * xp.floor_divide(ta.data, tb.data), tb.shape)))


def _two_norm(t, axis, keepdims):
    """``sqrt(sum(t ** 2))`` over ``axis`` (None, an int or a tuple), with a gradient of 0 at 0 (torch's
    subgradient; the composition gives NaN there)."""
    xp = _xp()
    out = xp.sqrt((t.data * t.data).sum(axis=axis, keepdims=True))

    def vjp(g):
        positive = out > 0
        return xp.where(positive, g.reshape(out.shape) / xp.where(positive, out, 1), 0) * t.data
    kept = [n for a, n in enumerate(t.data.shape) if axis is not None and a not in _axes(axis, t.data.ndim)]
    return result(out if keepdims else out.reshape(kept), (t, vjp))


def _axes(axis, ndim):
    return tuple(a % ndim for a in (axis if isinstance(axis, tuple) else (axis,)))


def norm(x, ord=None, axis=None, keepdims=False):  # noqa: A002 (Keras's name)
    """Keras 3's ``ops.norm``: over ``axis`` an int, a vector norm (``ord`` None or 2, 1, inf, -inf, 0, or
    any other power); over two axes, a matrix norm (None or ``"fro"``, 1, -1, inf, -inf); with ``axis`` None,
    the 2-norm of all of ``x`` where ``ord`` is None, else ``x`` must be a vector or a matrix."""
    t = _float(x)
    ndim = t.data.ndim
    if axis is None and ord is None:
        return _two_norm(t, None, keepdims)
    if axis is None:
        if ndim not in (1, 2):
            raise ValueError(f"norm: with ord={ord!r} and axis=None, x must be 1-D or 2-D; received shape "
                             f"{tuple(t.data.shape)}")
        axis = 0 if ndim == 1 else (0, 1)
    if isinstance(axis, (tuple, list)):
        if len(axis) != 2:
            raise ValueError(f"norm: axis must be an int or a pair of ints, received {axis!r}")
        rows, cols = _axes(tuple(axis), ndim)
        if ord in (None, "fro"):
            return _two_norm(t, (rows, cols), keepdims)
        if ord not in (1, -1, math.inf, -math.inf):
            raise NotImplementedError(f"norm: the matrix norm ord={ord!r} is not implemented (None, 'fro', 1, -1, "
                                      "inf and -inf are)")
        summed_over, then = (rows, cols) if ord in (1, -1) else (cols, rows)
        out = (max if ord > 0 else min)(sum(abs(t), axis=summed_over, keepdims=True), axis=then, keepdims=True)
        return out if keepdims else squeeze(squeeze(out, builtins.max(rows, cols)), builtins.min(rows, cols))
    if ord in (None, 2):
        return _two_norm(t, axis, keepdims)
    if ord == math.inf:
        return max(abs(t), axis=axis, keepdims=keepdims)
    if ord == -math.inf:
        return min(abs(t), axis=axis, keepdims=keepdims)
    if ord == 0:
        return Tensor(_xp().sum(t.data != 0, axis=axis, keepdims=keepdims).astype(t.data.dtype))
    if ord == 1:
        return sum(abs(t), axis=axis, keepdims=keepdims)
    return power(sum(power(abs(t), ord), axis=axis, keepdims=keepdims), 1.0 / ord)


def moments(x, axes, keepdims=False, synchronized=False):
    """``(mean, variance)`` over ``axes``, the variance as Keras 3 computes it: ``mean(x^2) - mean(x)^2``."""
    if synchronized:
        raise NotImplementedError("moments: synchronized=True is for several devices (use "
                                  "BatchNormalization(synchronized=True) in a data-parallel fit)")
    t = _float(x)
    axes = tuple(axes) if isinstance(axes, (list, tuple)) else axes
    m = mean(t, axis=axes, keepdims=True)
    variance = subtract(mean(square(t), axis=axes, keepdims=True), square(m))
    if keepdims:
        return m, variance
    return squeeze_axes(m, axes), squeeze_axes(variance, axes)


def squeeze_axes(x, axes):
    """``x`` without the (size-1) ``axes``."""
    t = lift(x)
    for a in sorted(_axes(axes, t.data.ndim), reverse=True):
        t = squeeze(t, a)
    return t


def normalize(x, axis=-1, order=2, epsilon=None):
    """``x`` over its ``order``-norm along ``axis`` (at least ``epsilon``: Keras's epsilon by default), as
    Keras 3's ``ops.normalize`` computes it (order 2: ``x * min(rsqrt(sum(x^2)), 1 / epsilon)``)."""
    t = _float(x)
    if t.data.ndim == 0:
        t = expand_dims(t, 0)
    epsilon = B.epsilon() if epsilon is None else epsilon
    if order == 2:
        return multiply(t, minimum(rsqrt(sum(square(t), axis=axis, keepdims=True)), 1.0 / epsilon))
    return divide(t, maximum(norm(t, ord=order, axis=axis, keepdims=True), epsilon))

