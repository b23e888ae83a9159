"""Keras 3's NumPy-style ``keras.ops`` that take no gradient (constants): ``heaviside``, ``signbit``,
``isneginf``, ``isposinf``, ``isreal``, ``imag``, and the array makers ``tri``, ``empty``, ``empty_like``, ``array``,
``logspace``, ``geomspace`` (floatx unless a dtype is given). Checked against Keras 3 on torch:
tests/test_keras3_numpy_ops.py."""
import math

from .. import backend as B
from .math_ops import _constant, _xp
from .tensor import Tensor, lift, value_of

_NUMBER = (bool, int, float)


def heaviside(x1, x2):
    """0 where ``x1 < 0``, ``x2`` where ``x1 == 0``, 1 where ``x1 > 0`` (a constant); integer input gives floatx
    (int64: float64), as Keras 3; a Python number ``x2`` takes ``x1``'s float type."""
    arrays = [lift(v).data for v in (x1, x2) if not isinstance(v, _NUMBER)] or [lift(x1).data]
    xp = _xp()
    dtype = xp.result_type(*[a.dtype for a in arrays])
    if dtype.kind not in "fc":
        dtype = "float64" if dtype.itemsize == 8 else B.floatx()
    return _constant(lambda xp, a, b: xp.heaviside(a.astype(dtype), b.astype(dtype)), x1, x2)


def signbit(x):
    """Where the sign bit is set (bool; -0.0 included)."""
    return _constant(lambda xp, d: xp.signbit(d), x)


def isneginf(x):
    """Where ``x`` is -inf (bool)."""
    return _constant(lambda xp, d: d == -math.inf, x)


def isposinf(x):
    """Where ``x`` is +inf (bool)."""
    return _constant(lambda xp, d: d == math.inf, x)


def isreal(x):
    """Where the imaginary part is 0 (bool: all True for real input)."""
    return _constant(lambda xp, d: d.imag == 0 if d.dtype.kind == "c" else xp.ones(d.shape, bool), x)


def imag(x):
    """The imaginary part (a constant): zeros of ``x``'s dtype for real input, as NumPy (torch refuses)."""
    return _constant(lambda xp, d: d.imag.copy() if d.dtype.kind == "c" else xp.zeros(d.shape, d.dtype), x)


def tri(N, M=None, k=0, dtype=None):  # noqa: N803 (Keras's names)
    """Ones at and below the ``k``-th diagonal of an ``N`` x ``M`` matrix (floatx unless ``dtype``), a constant."""
    return Tensor(_xp().tri(N, M, k, dtype=dtype or B.floatx()))


def empty(shape, dtype=None):
    """An uninitialised array of ``shape`` (floatx unless ``dtype``), a constant."""
    return Tensor(_xp().empty(shape, dtype=dtype or B.floatx()))


def empty_like(x, dtype=None):
    """An uninitialised array of ``x``'s shape (and dtype unless ``dtype``), a constant."""
    data = lift(x).data
    return Tensor(_xp().empty(data.shape, dtype=dtype or data.dtype))


def array(x, dtype=None):
    """``x`` as a constant tensor of the active backend: arrays keep their dtype, Python ints become int32 and
    Python floats floatx (Keras 3's ``convert_to_tensor``), unless ``dtype``."""
    data = B.get_backend().asarray(value_of(x), dtype=dtype)
    if dtype is None and not hasattr(x, "dtype"):  # Python values: NumPy would make int64/float64
        default = {"i": "int32", "u": "int32", "f": B.floatx()}.get(data.dtype.kind)
        data = data.astype(default) if default else data
    return Tensor(data)


def _spaced(start, stop, num, endpoint, axis, name):
    """``num`` points from ``start`` to ``stop`` (scalars or arrays) in float64, along ``axis``."""
    if not isinstance(num, int) or num < 0:
        raise ValueError(f"{name}: num must be a non-negative int, received {num!r}")
    xp = _xp()
    start, stop = (xp.asarray(value_of(v), dtype="float64") for v in (start, stop))
    div = num - 1 if endpoint else num
    steps = xp.arange(num, dtype="float64") / div if div > 0 else xp.zeros(num, "float64")
    delta = stop - start
    out = start + steps.reshape((num,) + (1,) * delta.ndim) * delta
    if endpoint and num > 1:
        out[-1] = stop  # exact, as NumPy's linspace
    return xp.moveaxis(out, 0, axis)


def logspace(start, stop, num=50, endpoint=True, base=10, dtype=None, axis=0):
    """``base ** linspace(start, stop, num)`` (floatx unless ``dtype``), a constant."""
    return Tensor((base ** _spaced(start, stop, num, endpoint, axis, "logspace")).astype(dtype or B.floatx()))


def geomspace(start, stop, num=50, endpoint=True, dtype=None, axis=0):
    """``num`` points from ``start`` to ``stop`` in geometric progression (floatx unless ``dtype``), a constant;
    ``start`` and ``stop`` must be non-zero with the same sign."""
    xp = _xp()
    lo, hi = (xp.asarray(value_of(v), dtype="float64") for v in (start, stop))
    if bool((lo * hi <= 0).any()):
        raise ValueError(f"geomspace: expected non-zero start and stop of the same sign, received {start!r} and "
                         f"{stop!r}")
    out = xp.sign(lo) * 10.0 ** _spaced(xp.log10(xp.abs(lo)), xp.log10(xp.abs(hi)), num, endpoint, 0, "geomspace")
    if num > 0:
        out[0] = lo  # the ends exactly, as NumPy's
        if endpoint and num > 1:
            out[-1] = hi
    return Tensor(xp.moveaxis(out, 0, axis).astype(dtype or B.floatx()))


__all__ = ["heaviside", "signbit", "isneginf", "isposinf", "isreal", "imag", "tri", "empty", "empty_like", "array",
           "logspace", "geomspace"]
