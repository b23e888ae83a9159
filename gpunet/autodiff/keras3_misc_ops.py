"""Keras 3's special functions (``erfc``, ``erfinv``, ``i0``), distances and correlations (``cdist``, ``corrcoef``,
``correlate``), framing (``extract_sequences``), the adaptive poolings, torch's ``fold``/``unfold`` and
``rearrange``, each with the gradient Keras 3 on torch gives (tests/test_keras3_misc_ops.py); the control-flow ones
(``scan``, ``custom_gradient``...) are in keras3_control_ops.py.
"""
import builtins
import math
import re

from .. import backend as B
from ..backend.erfc import erfc as _erfc_data
from ..backend.fp_quiet import fp_quiet
from . import elementwise as E
from .array_ops import diagonal, pad
from .conv_ops import data_format_of, int_tuple
from .elementwise import _floating as _float
from .math_ops import _unary
from .reductions import max, mean, sum
from .shape_ops import concatenate, expand_dims, getitem, matmul, reshape, transpose
from .tensor import lift
from .windows import fold as _fold_windows, patches

__all__ = ["erfc", "erfinv", "i0", "cdist", "corrcoef", "correlate", "extract_sequences", "adaptive_average_pool",
           "adaptive_max_pool", "fold", "unfold", "rearrange"]

_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
# M. Giles, "Approximating the erfinv function" (GPU Computing Gems, 2011): single-precision starting points that
# the Halley steps below refine to float64's precision; for w >= 16 (1 - |y| < 1e-7) erfc's asymptotic is used.
_GILES_CENTRAL = (2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087, -0.00125372503,
                  -0.00417768164, 0.246640727, 1.50140941)
_GILES_TAIL = (-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773, -0.0076224613,
               0.00943887047, 1.00167406, 2.83297682)


def _horner(coefficients, w):
    p = coefficients[0]
    for c in coefficients[1:]:
        p = p * w + c
    return p


def _erf_small(xp, x):
    """``erf(x)`` to full relative precision for ``|x| <= 0.6`` by its Taylor series (``1 - erfc`` would lose
    the low digits of small values, which erfinv's Newton residual needs)."""
    x2, term = x * x, x
    total = x
    for n in range(1, 16):
        term = term * (-x2) / n
        total = total + term / (2 * n + 1)
    return _TWO_OVER_SQRT_PI * total


def _erfinv_data(xp, y):
    a = xp.abs(y.astype("float64"))
    with fp_quiet(xp, divide="ignore", invalid="ignore", over="ignore"):
        q = 1.0 - a  # exact for a >= 0.5, where the residual is taken through erfc
        w = -xp.log(q * (1.0 + a))
        far = xp.maximum(-xp.log(q), 1.0)
        far = xp.sqrt(far - xp.log(xp.sqrt(far * math.pi)))  # erfc(x) ~ exp(-x^2) / (x sqrt(pi))
        x = xp.where(w < 5.0, _horner(_GILES_CENTRAL, w - 2.5) * a,
                     xp.where(w < 16.0, _horner(_GILES_TAIL, xp.sqrt(w) - 3.0) * a, far))
        tail = a > 0.5
        for _ in range(3):  # Halley's method on erf(x) = a: cubic convergence, f''/f' = -2x
            residual = xp.where(tail, q - _erfc_data(xp, x), _erf_small(xp, xp.minimum(x, 1.0)) - a)
            r = residual / (_TWO_OVER_SQRT_PI * xp.exp(-x * x))
            x = x - r / (1.0 + x * r)
        x = xp.where(a == 1.0, xp.inf, xp.where(a > 1.0, xp.nan, x))
        return xp.copysign(x, y).astype(y.dtype)


def erfc(x):
    """The complementary error function ``1 - erf(x)``, without ``erf``'s loss of precision for large ``x``."""
    return _unary(x, lambda xp, d: _erfc_data(xp, d), lambda xp, d, out: -_TWO_OVER_SQRT_PI * xp.exp(-d * d))


def erfinv(x):
    """The inverse error function (``erf(erfinv(x)) = x`` on ``[-1, 1]``, +-inf at +-1, NaN outside), computed in
    float64; its gradient is ``sqrt(pi) / 2 * exp(erfinv(x) ** 2)``."""
    return _unary(x, lambda xp, d: _erfinv_data(xp, d),
                  lambda xp, d, out: (math.sqrt(math.pi) / 2.0) * xp.exp(out * out))


def _bessel_i(xp, x, order):
    """``I_order(x)`` for order 0 or 1 in float64: the power series below 30, Hankel's asymptotic above."""
    a = xp.abs(x)
    s = xp.minimum(a, 30.0)
    q, term = s * s / 4.0, xp.ones_like(s)
    total = term
    for k in range(1, 64):  # the series' terms peak near k = s / 2 and are below 1e-20 of the sum by k = 60
        term = term * q / (k * (k + order))
        total = total + term
    series = total * (s / 2.0) if order else total
    big, mu = xp.maximum(a, 30.0), 4.0 * order * order
    term = xp.ones_like(big)
    total = term
    for k in range(1, 24):
        term = -term * (mu - (2 * k - 1) ** 2) / (8.0 * k * big)
        total = total + term
    half = xp.exp(big / 2.0)  # (e^x in two halves: I0 overflows later than e^x does)
    with fp_quiet(xp, over="ignore", invalid="ignore"):
        out = xp.where(a < 30.0, series, half * (half * total / xp.sqrt(2.0 * math.pi * big)))
    return xp.copysign(out, x) if order else out


def i0(x):
    """The modified Bessel function of the first kind, order 0 (integer input: float64 for int64, floatx
    otherwise, as Keras 3); differentiable as on torch: ``d/dx i0 = i1``."""
    t = lift(x)
    if t.dtype.kind not in "f":
        t = lift(t.data.astype("float64" if t.dtype == "int64" else B.floatx()))
    return _unary(t, lambda xp, d: _bessel_i(xp, d.astype("float64"), 0).astype(d.dtype),
                  lambda xp, d, out: _bessel_i(xp, d.astype("float64"), 1).astype(d.dtype))


def cdist(x, y):
    """The Euclidean distances ``(..., n, m)`` between the rows of ``x`` ``(..., n, d)`` and ``y`` ``(..., m, d)``
    (batch axes broadcast), as Keras 3 computes them: the gradient at a zero distance is NaN there too."""
    a, b = lift(x), lift(y)
    if a.ndim < 2 or b.ndim < 2:
        raise ValueError(f"cdist: expected inputs of rank 2 or more, received shapes {a.shape} and {b.shape}")
    if a.shape[-1] != b.shape[-1]:
        raise ValueError(f"cdist: expected the same last axis, received shapes {a.shape} and {b.shape}")
    diff = E.subtract(expand_dims(a, -2), expand_dims(b, -3))
    return E.sqrt(sum(E.multiply(diff, diff), axis=-1))


def corrcoef(x):
    """The Pearson correlation coefficients of the rows (variables) of ``x`` ``(variables, observations)``,
    clipped to ``[-1, 1]`` as torch's; a 1-D ``x`` gives the scalar 1. Integer input: float64 for int64."""
    t = lift(x)
    if t.dtype.kind not in "f":
        t = lift(t.data.astype("float64" if t.dtype == "int64" else B.floatx()))
    if t.ndim not in (1, 2):
        raise ValueError(f"corrcoef: expected a 1-D or 2-D input, received shape {t.shape}")
    rows = reshape(t, (1, -1)) if t.ndim == 1 else t
    centred = E.subtract(rows, mean(rows, axis=1, keepdims=True))
    cov = E.divide(matmul(centred, transpose(centred)), float(rows.shape[1] - 1))
    if t.ndim == 1:
        c = getitem(cov, (0, 0))
        return E.divide(c, c)
    std = E.sqrt(diagonal(cov))
    c = E.divide(E.divide(cov, reshape(std, (-1, 1))), reshape(std, (1, -1)))
    return E.clip(c, -1.0, 1.0)


def _sequence_ints(sequence_length, sequence_stride):
    for name, v in (("sequence_length", sequence_length), ("sequence_stride", sequence_stride)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"extract_sequences: {name} must be a positive int, received {v!r}")


def extract_sequences(x, sequence_length, sequence_stride):
    """The frames of ``x`` along its last axis: ``(..., num_frames, sequence_length)``, a frame every
    ``sequence_stride`` steps, ``num_frames = (length - sequence_length) // sequence_stride + 1``."""
    t = lift(x)
    _sequence_ints(sequence_length, sequence_stride)
    if t.ndim < 1 or t.shape[-1] < sequence_length:
        raise ValueError(f"extract_sequences: expected a last axis of at least sequence_length={sequence_length} "
                         f"steps, received shape {t.shape}")
    frames = (t.shape[-1] - sequence_length) // sequence_stride + 1
    plan = ((0, 0, sequence_length, sequence_stride, 1, frames),)
    windows = patches(reshape(t, (-1, t.shape[-1], 1)), plan)  # (batch, frames, sequence_length, 1)
    return reshape(windows, t.shape[:-1] + (frames, sequence_length))


def correlate(x1, x2, mode="valid"):
    """The cross-correlation ``c[k] = sum_n x1[n + k] * x2[n]`` of two vectors, as NumPy's: ``mode`` "full"
    (length ``M + N - 1``), "same" (``max(M, N)``, centred) or "valid" (``max(M, N) - min(M, N) + 1``).
    Computed in float32 unless an input is float64, int64 or float16 (Keras 3)."""
    if mode not in ("valid", "same", "full"):
        raise ValueError(f"correlate: mode must be one of 'valid', 'same', 'full', received {mode!r}")
    a, b = lift(x1), lift(x2)
    if a.ndim != 1 or b.ndim != 1:
        raise ValueError(f"correlate: expected two 1-D inputs, received shapes {a.shape} and {b.shape}")
    xp = B.get_backend().xp
    kind = xp.result_type(a.dtype, b.dtype)
    dtype = "float64" if kind in ("float64", "int64") else "float16" if kind == "float16" else "float32"
    a, b = (E.cast(t, dtype) if t.dtype != dtype else t for t in (a, b))
    m, n = a.shape[0], b.shape[0]
    full = matmul(extract_sequences(pad(a, [(n - 1, n - 1)]), n, 1), b)  # (m + n - 1,): every shift of b along a
    length = {"full": m + n - 1, "same": builtins.max(m, n), "valid": builtins.max(m, n) - builtins.min(m, n) + 1}
    start = (m + n - 1 - length[mode]) // 2
    return getitem(full, builtins.slice(start, start + length[mode]))


def _adaptive(inputs, output_size, data_format, reduce, name):
    t = lift(inputs)
    rank = t.ndim - 2
    if rank not in (1, 2, 3):
        raise ValueError(f"{name}: expected inputs of rank 3, 4 or 5 (batch, spatial axes, channels), received "
                         f"shape {t.shape}")
    sizes = int_tuple(output_size, rank, "output_size", owner=name)
    first = data_format_of(data_format) == "channels_first"
    axes = range(2, rank + 2) if first else range(1, rank + 1)
    for axis, m in zip(axes, sizes):
        n = t.shape[axis]
        # torch's windows: [floor(j n / m), ceil((j + 1) n / m)); the box reduces one axis at a time
        bounds = [(j * n // m, -(-(j + 1) * n // m)) for j in range(m)]
        t = concatenate([reduce(getitem(t, (builtins.slice(None),) * axis + (builtins.slice(lo, hi),)),
                                axis=axis, keepdims=True) for lo, hi in bounds], axis=axis)
    return t


def adaptive_average_pool(inputs, output_size, data_format=None):
    """The mean over ``output_size`` windows spread evenly over each spatial axis (1-D to 3-D, torch's
    ``adaptive_avg_pool``): window ``j`` of ``m`` over ``n`` steps is ``[floor(j n / m), ceil((j + 1) n / m))``."""
    return _adaptive(_float(inputs), output_size, data_format, mean, "adaptive_average_pool")


def adaptive_max_pool(inputs, output_size, data_format=None):
    """The largest value over ``output_size`` windows spread evenly over each spatial axis (torch's
    ``adaptive_max_pool``, windows as `adaptive_average_pool`'s)."""
    return _adaptive(inputs, output_size, data_format, max, "adaptive_max_pool")


def _fold_plan(spatial, kernel_size, dilation, padding, stride, name):
    k = int_tuple(kernel_size, 2, "kernel_size", owner=name)
    d = int_tuple(dilation, 2, "dilation", owner=name)
    p = int_tuple(padding, 2, "padding", owner=name, minimum=0)
    s = int_tuple(stride, 2, "stride", owner=name)
    outs = [(n + 2 * pi - di * (ki - 1) - 1) // si + 1 for n, ki, di, pi, si in zip(spatial, k, d, p, s)]
    if builtins.min(outs) < 1:
        raise ValueError(f"{name}: the {k} kernel (dilation {d}) does not fit the padded spatial shape "
                         f"{tuple(n + 2 * pi for n, pi in zip(spatial, p))}")
    return tuple((pi, pi, ki, si, di, o) for ki, di, pi, si, o in zip(k, d, p, s, outs)), math.prod(k), outs


def unfold(x, kernel_size, dilation=1, padding=0, stride=1):
    """torch's ``unfold`` (im2col) of a channels-first ``(N, C, H, W)`` batch: ``(N, C * kH * kW, L)``, each
    column one window (``L`` windows, row-major), its entries channel by channel."""
    t = lift(x)
    if t.ndim != 4:
        raise ValueError(f"unfold: expected a 4-D input (N, C, H, W), received shape {t.shape}")
    plan, window, outs = _fold_plan(t.shape[2:], kernel_size, dilation, padding, stride, "unfold")
    cols = patches(transpose(t, (0, 2, 3, 1)), plan)  # (N, oH, oW, window, C)
    return reshape(transpose(cols, (0, 4, 3, 1, 2)), (t.shape[0], t.shape[1] * window, outs[0] * outs[1]))


def fold(x, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """torch's ``fold`` (col2im), `unfold` transposed: windows ``(N, C * kH * kW, L)`` added into place in
    ``(N, C, *output_size)`` (a position in several windows receives their sum)."""
    t = lift(x)
    if t.ndim != 3:
        raise ValueError(f"fold: expected a 3-D input (N, C * kH * kW, L), received shape {t.shape}")
    size = int_tuple(output_size, 2, "output_size", owner="fold")
    plan, window, outs = _fold_plan(size, kernel_size, dilation, padding, stride, "fold")
    if t.shape[1] % window or t.shape[2] != outs[0] * outs[1]:
        raise ValueError(f"fold: expected (N, C * {window}, {outs[0] * outs[1]}) for a kernel of {window} "
                         f"positions over output_size {size}, received shape {t.shape}")
    n, channels = t.shape[0], t.shape[1] // window
    cols = transpose(reshape(t, (n, channels, window) + tuple(outs)), (0, 3, 4, 2, 1))
    return transpose(_fold_windows(cols, plan, (n,) + size + (channels,)), (0, 3, 1, 2))


def _pattern_axes(side, pattern):
    if "..." in side or re.search(r"[^\w\s()]", side):
        raise ValueError(f"rearrange: expected axis names and (groups) only (Keras 3 takes no '...' nor other "
                         f"symbols), received {pattern!r}")
    return [re.findall(r"\w+", a) if a.startswith("(") else [a] for a in re.findall(r"\w+|\(.*?\)", side)]


def rearrange(tensor, pattern, **axes_lengths):
    """``tensor`` with its axes reordered, split and merged as the einops ``pattern`` says (Keras 3's subset:
    names and parenthesised groups, e.g. ``"b (h h1) w c -> b h (w h1) c"``, ``h1=2``)."""
    t = lift(tensor)
    if not isinstance(pattern, str) or pattern.count("->") != 1:
        raise ValueError(f"rearrange: expected a pattern 'inputs -> outputs', received {pattern!r}")
    left, right = (_pattern_axes(side, pattern) for side in pattern.split("->"))
    names, outputs = [a for g in left for a in g], [a for g in right for a in g]
    if len(left) != t.ndim:
        raise ValueError(f"rearrange: the pattern names {len(left)} input axes, received a tensor of shape {t.shape}")
    if sorted(names) != sorted(outputs) or len(set(names)) != len(names):
        raise ValueError(f"rearrange: expected each axis once on both sides, received {pattern!r}")
    lengths = {}
    for group, n in zip(left, t.shape):
        unknown = [a for a in group if a not in axes_lengths]
        known = math.prod(axes_lengths[a] for a in group if a in axes_lengths)
        if len(unknown) > 1 or (unknown and n % known) or (not unknown and known != n):
            raise ValueError(f"rearrange: cannot split an axis of {n} into {group} with lengths {axes_lengths}")
        lengths.update({a: axes_lengths.get(a, n // known) for a in group})
    split = reshape(t, tuple(lengths[a] for a in names))
    moved = transpose(split, [names.index(a) for a in outputs])
    return reshape(moved, tuple(math.prod(lengths[a] for a in g) for g in right))
