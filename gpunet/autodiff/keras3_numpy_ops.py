"""Keras 3's remaining NumPy-style ``keras.ops``: elementwise (``fabs``, ``deg2rad``, ``sinc``, ``logaddexp2``...),
flips and rotations, splits and stacks, products (``inner``, ``vdot``, ``kron``, ``cross``), ``diff``,
``trapezoid`` and ``ptp``, composed from gpunet's taped ops (or with their own vector-Jacobian products) so they
differentiate as in Keras 3 on torch (tests/test_keras3_numpy_ops.py); the constants Keras 3 gives no gradient
(``heaviside``, ``tri``, ``array``, ``logspace``...) are in keras3_numpy_constants.py.
gpunet computes on real numbers: ``real``/``conj``/``conjugate`` refuse complex input.
"""
import builtins
import math

from . import elementwise as E
from .array_ops import flip, moveaxis, split
from .elementwise import _floating as _float
from .math_ops import _unary, _xp
from .more_ops import _binary, tensordot
from .reductions import max, min, sum
from .shape_ops import concatenate, getitem, reshape, stack, transpose
from .tensor import Tensor, lift, result

_NUMBER = (bool, int, float)


def _ndim_at_least(t, n, name):
    if t.ndim < n:
        raise ValueError(f"{name}: expected an input of rank {n} or more, received shape {t.shape}")


def _along(t, axis, index):
    """``t[..., index, ...]`` with ``index`` on ``axis``."""
    return getitem(t, (builtins.slice(None),) * (axis % t.ndim) + (index,))


def fabs(x):
    """``|x|`` as floats (integer input in floatx); the gradient is ``sign(x)``, 0 at 0."""
    return E.abs(_float(x))


def true_divide(x1, x2):
    """``x1 / x2``; integer operands divide in floatx (Keras 3), Python numbers keep the tensor's dtype."""
    a, b = (v if isinstance(v, _NUMBER) else lift(v) for v in (x1, x2))
    if not builtins.any(isinstance(v, float) or (isinstance(v, Tensor) and v.dtype.kind in "fc") for v in (a, b)):
        a, b = (_float(v) if isinstance(v, Tensor) else v for v in (a, b))  # int / int: floatx, not NumPy's float64
    return E.divide(a, b)


def deg2rad(x):
    """Degrees as radians."""
    return E.multiply(_float(x), math.pi / 180.0)


def rad2deg(x):
    """Radians as degrees."""
    return E.multiply(_float(x), 180.0 / math.pi)


def fliplr(x):
    """``x`` reversed along axis 1 (it needs 2 axes or more)."""
    t = lift(x)
    _ndim_at_least(t, 2, "fliplr")
    return flip(t, 1)


def flipud(x):
    """``x`` reversed along axis 0."""
    t = lift(x)
    _ndim_at_least(t, 1, "flipud")
    return flip(t, 0)


def rot90(array, k=1, axes=(0, 1)):
    """``array`` turned by ``k`` quarter turns in the plane ``axes``, from the first axis towards the second."""
    t = lift(array)
    axes = tuple(axes)
    if len(axes) != 2:
        raise ValueError(f"rot90: axes must be 2 axes, received {axes!r}")
    _ndim_at_least(t, 2, "rot90")
    if builtins.any(not -t.ndim <= a < t.ndim for a in axes) or axes[0] % t.ndim == axes[1] % t.ndim:
        raise ValueError(f"rot90: axes must be 2 different axes of a rank-{t.ndim} input, received {axes!r}")
    first, second = (a % t.ndim for a in axes)
    k %= 4
    if k == 0:
        return result(t.data, (t, lambda g: g))
    if k == 2:
        return flip(t, (first, second))
    order = list(range(t.ndim))
    order[first], order[second] = second, first
    return transpose(flip(t, second), order) if k == 1 else flip(transpose(t, order), second)


def diff(a, n=1, axis=-1):
    """The ``n``-th forward difference ``a[i + 1] - a[i]`` along ``axis``."""
    t = lift(a)
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"diff: n must be a non-negative int, received {n!r}")
    _ndim_at_least(t, 1, "diff")
    for _ in range(n):
        t = E.subtract(_along(t, axis, builtins.slice(1, None)), _along(t, axis, builtins.slice(None, -1)))
    return t


def diag(x, k=0):
    """The ``k``-th diagonal of a matrix; or, for a vector, the square matrix with it on the ``k``-th diagonal."""
    t = lift(x)
    if t.ndim == 2:
        from .array_ops import diagonal
        return diagonal(t, offset=k)
    if t.ndim != 1:
        raise ValueError(f"diag: expected a 1-D or 2-D input, received shape {t.shape}")
    xp, n = _xp(), t.shape[0]
    rows, cols = xp.arange(n) + builtins.max(-k, 0), xp.arange(n) + builtins.max(k, 0)
    out = xp.zeros((n + builtins.abs(k),) * 2, t.dtype)
    out[rows, cols] = t.data
    return result(out, (t, lambda g: g[rows, cols]))


def diagflat(x, k=0):
    """The square matrix with ``x`` (flattened) on its ``k``-th diagonal."""
    return diag(reshape(x, (-1,)), k)


def cross(x1, x2, axisa=-1, axisb=-1, axisc=-1, axis=None):
    """The cross product of the 2- or 3-vectors along ``axisa`` of ``x1`` and ``axisb`` of ``x2`` (``axis``: all
    three), broadcast over the other axes, as NumPy's; two 2-vectors give the z component only."""
    if axis is not None:
        axisa = axisb = axisc = axis
    a, b = moveaxis(_float(x1), axisa, -1), moveaxis(_float(x2), axisb, -1)
    if a.shape[-1] not in (2, 3) or b.shape[-1] not in (2, 3):
        raise ValueError(f"cross: the vectors must have 2 or 3 components, received shapes {a.shape} and {b.shape} "
                         f"(after moving axisa={axisa} and axisb={axisb} last)")

    def part(t, i):
        return _along(t, -1, i) if i < t.shape[-1] else 0.0  # a 2-vector's z is 0
    (a0, a1, a2), (b0, b1, b2) = ([part(t, i) for i in range(3)] for t in (a, b))
    z = a0 * b1 - a1 * b0
    if a.shape[-1] == b.shape[-1] == 2:
        return z
    return moveaxis(stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, z], axis=-1), -1, axisc)


def dstack(xs):
    """The tensors joined along axis 2 (vectors ``(n,)`` as ``(1, n, 1)``, matrices ``(m, n)`` as ``(m, n, 1)``)."""
    ts = [lift(x) for x in xs]
    if not ts:
        raise ValueError("dstack: expected a non-empty list of tensors, received an empty one")
    shaped = [reshape(t, (1,) * (2 - t.ndim) + t.shape + (1,)) if t.ndim < 3 else t for t in ts]
    return concatenate(shaped, axis=2)


def _split_along(x, indices_or_sections, axis, rank, name):
    t = lift(x)
    _ndim_at_least(t, rank, name)
    return split(t, indices_or_sections, axis=axis)


def hsplit(x, indices_or_sections):
    """``x`` split along axis 1 (axis 0 for a vector) into equal parts or at indices."""
    t = lift(x)
    return _split_along(t, indices_or_sections, 0 if t.ndim == 1 else 1, 1, "hsplit")


def vsplit(x, indices_or_sections):
    """``x`` split along axis 0 (it needs 2 axes or more) into equal parts or at indices."""
    return _split_along(x, indices_or_sections, 0, 2, "vsplit")


def dsplit(x, indices_or_sections):
    """``x`` split along axis 2 (it needs 3 axes or more) into equal parts or at indices."""
    return _split_along(x, indices_or_sections, 2, 3, "dsplit")


def array_split(x, indices_or_sections, axis=0):
    """``x`` split along ``axis`` into ``indices_or_sections`` parts, the first ones one longer where they do not
    divide evenly (NumPy's), or at indices."""
    t = lift(x)
    if not isinstance(indices_or_sections, int):
        return split(t, indices_or_sections, axis=axis)
    if indices_or_sections <= 0:
        raise ValueError(f"array_split: the number of sections must be positive, received {indices_or_sections}")
    each, extra = divmod(t.shape[axis], indices_or_sections)
    cuts = [i * each + builtins.min(i, extra) for i in range(1, indices_or_sections)]
    return split(t, cuts, axis=axis)


def append(x1, x2, axis=None):
    """``x2`` after ``x1`` along ``axis`` (both flattened where None)."""
    if axis is None:
        return concatenate([reshape(x1, (-1,)), reshape(x2, (-1,))], axis=0)
    return concatenate([x1, x2], axis=axis)


def logaddexp2(x1, x2):
    """``log2(2^x1 + 2^x2)`` without overflow."""
    return _binary(x1, x2, lambda xp, a, b: xp.logaddexp2(a, b),
                   (lambda xp, a, b, out: xp.exp2(a - out), lambda xp, a, b, out: xp.exp2(b - out)))


def inner(x1, x2):
    """The sum of products over the last axes of ``x1`` and ``x2`` (a product for a scalar)."""
    a, b = _float(x1), _float(x2)
    if a.ndim == 0 or b.ndim == 0:
        return E.multiply(a, b)
    if a.shape[-1] != b.shape[-1]:
        raise ValueError(f"inner: the last axes must match, received shapes {a.shape} and {b.shape}")
    return tensordot(a, b, axes=([-1], [-1]))


def vdot(x1, x2):
    """The dot product of ``x1`` and ``x2`` flattened (real input: no conjugation needed)."""
    a, b = reshape(_float(x1), (-1,)), reshape(_float(x2), (-1,))
    if a.shape != b.shape:
        raise ValueError(f"vdot: expected as many entries in both, received shapes {lift(x1).shape} and "
                         f"{lift(x2).shape}")
    return sum(E.multiply(a, b))


def kron(x1, x2):
    """The Kronecker product: every entry of ``x1`` times the whole of ``x2`` (the shorter shape padded with 1s)."""
    a, b = lift(x1), lift(x2)
    rank = builtins.max(a.ndim, b.ndim)
    sa, sb = ((1,) * (rank - t.ndim) + t.shape for t in (a, b))
    spread_a = reshape(a, tuple(d for n in sa for d in (n, 1)))
    spread_b = reshape(b, tuple(d for n in sb for d in (1, n)))
    return reshape(E.multiply(spread_a, spread_b), tuple(m * n for m, n in zip(sa, sb)))


def trapezoid(y, x=None, dx=1.0, axis=-1):
    """The integral of ``y`` along ``axis`` by the trapezoidal rule, at the points ``x`` (1-D, or as ``y``'s
    shape) or ``dx`` apart."""
    t = _float(y)
    _ndim_at_least(t, 1, "trapezoid")
    axis %= t.ndim
    if x is None:
        step = dx
    else:
        step = diff(_float(x), axis=-1 if lift(x).ndim == 1 else axis)
        if step.ndim == 1:
            step = reshape(step, tuple(-1 if d == axis else 1 for d in range(t.ndim)))
    mid = E.add(_along(t, axis, builtins.slice(1, None)), _along(t, axis, builtins.slice(None, -1)))
    return sum(E.multiply(step, mid) / 2.0, axis=axis)


def sinc(x):
    """``sin(pi x) / (pi x)``, 1 at 0; the gradient ``(cos(pi x) - sinc(x)) / x``, 0 at 0."""
    def value(xp, d):
        angle = math.pi * xp.where(d == 0, 1, d)
        return xp.where(d == 0, 1, xp.sin(angle) / angle).astype(d.dtype)

    def slope(xp, d, out):
        safe = xp.where(d == 0, 1, d)
        return xp.where(d == 0, 0, (xp.cos(math.pi * safe) - out) / safe)
    return _unary(x, value, slope)


def ptp(x, axis=None, keepdims=False):
    """The range ``max - min`` over ``axis``; tied extremes share the gradient equally (as torch's amax)."""
    return E.subtract(max(x, axis=axis, keepdims=keepdims), min(x, axis=axis, keepdims=keepdims))


def _real_only(x, name):
    t = lift(x)
    if t.dtype.kind == "c":
        raise TypeError(f"{name}: gpunet computes on real numbers; expected a real tensor, received {t.dtype}")
    return t


def real(x):
    """The real part: ``x`` itself for real input (the gradient passes); complex input is refused."""
    t = _real_only(x, "real")
    return result(t.data, (t, lambda g: g))


def conj(x):
    """The complex conjugate: ``x`` itself for real input (the gradient passes); complex input is refused."""
    t = _real_only(x, "conj")
    return result(t.data, (t, lambda g: g))


conjugate = conj


__all__ = ["fabs", "true_divide", "deg2rad", "rad2deg", "fliplr", "flipud", "rot90", "diff", "diag", "diagflat",
           "cross", "dstack", "hsplit", "vsplit", "dsplit", "array_split", "append", "logaddexp2", "inner", "vdot",
           "kron", "trapezoid", "sinc", "ptp", "real", "conj", "conjugate"]
