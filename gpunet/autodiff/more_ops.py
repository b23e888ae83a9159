"""More of Keras 3's ``keras.ops`` that custom code reaches for: trigonometric and hyperbolic functions, ``log2``,
``hypot``, ``logaddexp``, ``divide_no_nan``, ``tensordot``, ``roll``, ``unstack``, ``hstack``/``vstack``, ``trace``,
``linspace``, ``meshgrid``, ``isclose``, ``convert_to_numpy``... with their vector-Jacobian products where Keras 3 has
a gradient (checked against Keras 3 on torch: tests/test_keras3_more_ops.py)."""
import math

from .. import backend as B
from .elementwise import _floating as _float
from .math_ops import _constant, _unary, _xp
from .shape_ops import concatenate, expand_dims, matmul, reshape, transpose
from .tensor import Tensor, lift, result, unbroadcast


def tan(x):
    return _unary(x, lambda xp, d: xp.tan(d), lambda xp, d, out: 1.0 + out * out)


def sinh(x):
    return _unary(x, lambda xp, d: xp.sinh(d), lambda xp, d, out: xp.cosh(d))


def cosh(x):
    return _unary(x, lambda xp, d: xp.cosh(d), lambda xp, d, out: xp.sinh(d))


def arcsin(x):
    return _unary(x, lambda xp, d: xp.arcsin(d), lambda xp, d, out: 1.0 / xp.sqrt(1.0 - d * d))


def arccos(x):
    return _unary(x, lambda xp, d: xp.arccos(d), lambda xp, d, out: -1.0 / xp.sqrt(1.0 - d * d))


def arctan(x):
    return _unary(x, lambda xp, d: xp.arctan(d), lambda xp, d, out: 1.0 / (1.0 + d * d))


def arcsinh(x):
    return _unary(x, lambda xp, d: xp.arcsinh(d), lambda xp, d, out: 1.0 / xp.sqrt(d * d + 1.0))


def arccosh(x):
    return _unary(x, lambda xp, d: xp.arccosh(d), lambda xp, d, out: 1.0 / xp.sqrt(d * d - 1.0))


def arctanh(x):
    return _unary(x, lambda xp, d: xp.arctanh(d), lambda xp, d, out: 1.0 / (1.0 - d * d))


def log2(x):
    return _unary(x, lambda xp, d: xp.log2(d), lambda xp, d, out: 1.0 / (d * math.log(2.0)))


def log10(x):
    return _unary(x, lambda xp, d: xp.log10(d), lambda xp, d, out: 1.0 / (d * math.log(10.0)))


def exp2(x):
    return _unary(x, lambda xp, d: xp.exp2(d), lambda xp, d, out: out * math.log(2.0))


def cbrt(x):
    """The real cube root; its gradient ``1 / (3 cbrt(x)^2)`` (inf at 0)."""
    return _unary(x, lambda xp, d: xp.cbrt(d), lambda xp, d, out: 1.0 / (3.0 * out * out))


def trunc(x):
    """``x`` rounded towards 0 (no gradient)."""
    return _constant(lambda xp, d: xp.trunc(d), x)


def _binary(x, y, value, slopes):
    """``value(xp, a, b)`` with the gradients ``g * slope(xp, a, b, out)`` for each input, summed over broadcasting."""
    ta, tb = _float(x), _float(y)
    xp = _xp()
    out = value(xp, ta.data, tb.data)
    da, db = slopes
    return result(out, (ta, lambda g: unbroadcast(g * da(xp, ta.data, tb.data, out), ta.shape)),
                  (tb, lambda g: unbroadcast(g * db(xp, ta.data, tb.data, out), tb.shape)))


def hypot(x1, x2):
    """``sqrt(x1^2 + x2^2)`` without overflow."""
    return _binary(x1, x2, lambda xp, a, b: xp.hypot(a, b),
                   (lambda xp, a, b, out: a / out, lambda xp, a, b, out: b / out))


def arctan2(x1, x2):
    """The angle of the point ``(x2, x1)``."""
    return _binary(x1, x2, lambda xp, a, b: xp.arctan2(a, b),
                   (lambda xp, a, b, out: b / (a * a + b * b), lambda xp, a, b, out: -a / (a * a + b * b)))


def logaddexp(x1, x2):
    """``log(exp(x1) + exp(x2))`` without overflow."""
    return _binary(x1, x2, lambda xp, a, b: xp.logaddexp(a, b),
                   (lambda xp, a, b, out: xp.exp(a - out), lambda xp, a, b, out: xp.exp(b - out)))


def divide_no_nan(x1, x2):
    """``x1 / x2``, 0 where ``x2`` is 0 (with no gradient there), as TensorFlow's ``divide_no_nan``."""
    def safe(xp, b):
        return xp.where(b == 0, 1, b)
    return _binary(x1, x2, lambda xp, a, b: xp.where(b == 0, 0, a / safe(xp, b)).astype(a.dtype),
                   (lambda xp, a, b, out: xp.where(b == 0, 0, 1.0 / safe(xp, b)),
                    lambda xp, a, b, out: xp.where(b == 0, 0, -out / safe(xp, b))))


def copy(x):
    """A copy of ``x`` (the gradient passes through)."""
    t = lift(x)
    return result(t.data.copy(), (t, lambda g: g))


def ravel(x):
    """``x`` as one axis."""
    return reshape(x, (-1,))


def roll(x, shift, axis=None):
    """``x`` shifted by ``shift`` along ``axis`` (all of it, flattened, where None), wrapping around."""
    t, xp = lift(x), _xp()
    return result(xp.roll(t.data, shift, axis=axis),
                  (t, lambda g: xp.roll(g, -shift if isinstance(shift, int) else tuple(-s for s in shift), axis=axis)))


def tensordot(x1, x2, axes=2):
    """The sum of products over ``axes`` (an int: the last of ``x1`` with the first of ``x2``; or two lists)."""
    ta, tb = _float(x1), _float(x2)
    if isinstance(axes, int):
        a_axes = list(range(ta.data.ndim - axes, ta.data.ndim))
        b_axes = list(range(axes))
    else:
        a_axes, b_axes = ([a] if isinstance(a, int) else list(a) for a in axes)
    a_axes = [a % ta.data.ndim for a in a_axes]
    b_axes = [b % tb.data.ndim for b in b_axes]
    a_free = [a for a in range(ta.data.ndim) if a not in a_axes]
    b_free = [b for b in range(tb.data.ndim) if b not in b_axes]
    a2 = transpose(ta, a_free + a_axes)
    b2 = transpose(tb, b_axes + b_free)
    k = math.prod(ta.data.shape[a] for a in a_axes)
    left = reshape(a2, (math.prod(ta.data.shape[a] for a in a_free), k))
    right = reshape(b2, (k, math.prod(tb.data.shape[b] for b in b_free)))
    return reshape(matmul(left, right), tuple(ta.data.shape[a] for a in a_free) + tuple(tb.data.shape[b]
                                                                                         for b in b_free))


def unstack(x, num=None, axis=0):
    """The slices of ``x`` along ``axis``, as a list."""
    t = lift(x)
    n = t.data.shape[axis]
    if num is not None and num != n:
        raise ValueError(f"unstack: num={num} differs from the size {n} of axis {axis}")
    index = [slice(None)] * t.data.ndim
    parts = []
    for i in range(n):
        index[axis] = i
        parts.append(t[tuple(index)])
    return parts


def hstack(xs):
    """The tensors side by side: along axis 1, or axis 0 for vectors."""
    ts = [lift(x) for x in xs]
    return concatenate(ts, axis=0 if ts[0].data.ndim == 1 else 1)


def vstack(xs):
    """The tensors one above the other (vectors as rows)."""
    ts = [lift(x) for x in xs]
    return concatenate([expand_dims(t, 0) if t.data.ndim == 1 else t for t in ts], axis=0)


def trace(x, offset=0, axis1=0, axis2=1):
    """The sum along a diagonal of ``x`` (over ``axis1`` and ``axis2``)."""
    from .array_ops import diagonal
    from .reductions import sum
    return sum(diagonal(x, offset=offset, axis1=axis1, axis2=axis2), axis=-1)


def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
    """``num`` evenly spaced values from ``start`` to ``stop`` (a constant)."""
    xp = _xp()
    values = xp.linspace(start, stop, num, endpoint=endpoint, retstep=retstep, axis=axis)
    out = values[0] if retstep else values
    out = Tensor(out.astype(dtype or B.floatx()))
    return (out, values[1]) if retstep else out


def meshgrid(*xs, indexing="xy"):
    """Coordinate grids from vectors (constants), ``indexing`` ``"xy"`` or ``"ij"``."""
    return [Tensor(g) for g in _xp().meshgrid(*[lift(x).data for x in xs], indexing=indexing)]


def isclose(x1, x2, rtol=1e-5, atol=1e-8, equal_nan=False):
    """Where ``|x1 - x2| <= atol + rtol |x2|`` (bool)."""
    return _constant(lambda xp, a, b: xp.isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan), x1, x2)


def allclose(x1, x2, rtol=1e-5, atol=1e-8, equal_nan=False):
    """Whether every entry `isclose` (a bool)."""
    return bool(_xp().allclose(lift(x1).data, lift(x2).data, rtol=rtol, atol=atol, equal_nan=equal_nan))


def convert_to_numpy(x):
    """``x`` as a host NumPy array (from a tensor, a weight or a device array)."""
    from .tensor import value_of
    return B.get_backend().to_host(value_of(x))


def select(condlist, choicelist, default=0):
    """For each entry, the value of the first choice whose condition holds, else ``default``."""
    from .elementwise import where
    out = lift(default)
    for cond, choice in reversed(list(zip(condlist, choicelist))):
        out = where(cond, choice, out)
    return out


__all__ = ["tan", "sinh", "cosh", "arcsin", "arccos", "arctan", "arcsinh", "arccosh", "arctanh", "log2", "log10",
           "exp2", "cbrt", "trunc", "hypot", "arctan2", "logaddexp", "divide_no_nan", "copy", "ravel", "roll",
           "tensordot", "unstack", "hstack", "vstack", "trace", "linspace", "meshgrid", "isclose", "allclose",
           "convert_to_numpy", "select"]
