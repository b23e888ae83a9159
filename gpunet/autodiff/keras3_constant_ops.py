"""Keras 3's ``keras.ops`` that give constants (no gradient, as in Keras 3): lookups (``searchsorted``,
``digitize``, ``bincount``, ``isin``, ``unique``, ``nonzero``, ``unravel_index``, ``argpartition``,
``histogram``), integer and bit arithmetic (``gcd``, ``lcm``, ``bitwise_*``, shifts), ``nextafter``, the signal
windows (``bartlett``, ``blackman``, ``hamming``, ``hanning``, ``kaiser``), ``vander`` and ``dtype``; with
Keras 3's output dtypes. Checked against Keras 3 on torch: tests/test_keras3_index_ops.py."""
from .. import backend as B
from ..backend.dtype_functions import result_type, standardize_dtype
from .tensor import Operators, Tensor, lift

__all__ = ["searchsorted", "digitize", "bincount", "isin", "unique", "nonzero", "unravel_index", "argpartition",
           "histogram", "gcd", "lcm", "nextafter", "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not",
           "bitwise_invert", "bitwise_left_shift", "bitwise_right_shift", "left_shift", "right_shift", "bartlett",
           "blackman", "hamming", "hanning", "kaiser", "vander", "dtype"]


def _xp():
    return B.get_backend().xp


def _array(x):
    """``x``'s device array, its dtype kept (``lift`` would turn Python ints into floats: these ops count)."""
    if isinstance(x, Operators):  # a tensor, or a layer's Weight
        return lift(x).data
    return B.get_backend().asarray(x)


def _integers(x, what):
    data = _array(x)
    if data.dtype.kind not in "iub":
        raise TypeError(f"{what} must be integers, received dtype {data.dtype}")
    return data


def searchsorted(sorted_sequence, values, side="left"):
    """Where ``values`` would go in the 1-D ``sorted_sequence`` to keep it sorted (int32)."""
    seq, v = _array(sorted_sequence), _array(values)
    if seq.ndim != 1:
        raise ValueError(f"searchsorted: sorted_sequence must be 1-D; received shape {tuple(seq.shape)}")
    if side not in ("left", "right"):
        raise ValueError(f"searchsorted: side must be 'left' or 'right', received {side!r}")
    return Tensor(_xp().searchsorted(seq, v, side=side).astype("int32" if seq.shape[0] < 2 ** 31 else "int64"))


def digitize(x, bins):
    """The index of the bin each ``x`` falls in (``bins[i-1] <= x < bins[i]`` for increasing bins; int32)."""
    data = _array(x)
    data = data.astype("uint8") if data.dtype.kind == "b" else data
    return Tensor(_xp().digitize(data, _array(bins)).astype("int32"))


def bincount(x, weights=None, minlength=0, sparse=False):
    """How often each non-negative int occurs in ``x`` (int32), or the sum of its ``weights`` (their dtype);
    a 2-D ``x`` counts each row, to a common length."""
    if sparse:
        raise ValueError("bincount: sparse=True is not supported (sparse=False is)")
    data, xp = _integers(x, "bincount: x"), _xp()
    if data.ndim not in (1, 2):
        raise ValueError(f"bincount: x must be 1-D or 2-D; received shape {tuple(data.shape)}")
    w = None if weights is None else _array(weights)
    if w is not None and tuple(w.shape) != tuple(data.shape):
        raise ValueError(f"bincount: weights must have x's shape {tuple(data.shape)}; received {tuple(w.shape)}")
    low, high = (int(data.min()), int(data.max())) if data.size else (0, -1)
    if low < 0:
        raise ValueError(f"bincount: x must be non-negative; received {low}")
    kind = "int32" if w is None else result_type(data.dtype, w.dtype)
    if data.ndim == 1:
        return Tensor(xp.bincount(data, weights=w, minlength=minlength).astype(kind))
    length = max(int(minlength), high + 1)  # rows offset so one bincount counts them all
    rows = data.shape[0]
    flat = (data.astype("int64") + xp.arange(rows).reshape(-1, 1) * length).reshape(-1)
    counts = xp.bincount(flat, weights=None if w is None else w.reshape(-1), minlength=rows * length)
    return Tensor(counts.reshape(rows, length).astype(kind))


def isin(x1, x2, assume_unique=False, invert=False):
    """Whether each entry of ``x1`` occurs in ``x2`` (bool; ``invert``: whether not)."""
    return Tensor(_xp().isin(_array(x1), _array(x2), assume_unique=assume_unique, invert=invert))


def unique(x, sorted=True, return_index=False, return_inverse=False, return_counts=False,  # noqa: A002
           axis=None, size=None, fill_value=None):
    """The distinct values of ``x`` (or rows along ``axis``), sorted, with the first indices, the inverse and
    the counts asked for (int64); ``size`` truncates or pads them (values with ``fill_value`` (0), counts with
    0, indices with 1, as Keras 3)."""
    data, xp = _array(x), _xp()
    out = xp.unique(data, return_index=return_index, return_inverse=return_inverse, return_counts=return_counts,
                    axis=axis)
    out = list(out) if isinstance(out, tuple) else [out]
    out = [out[0]] + [o.astype("int64") for o in out[1:]]
    if size is not None:
        dim = 0 if axis is None else axis % data.ndim
        have, size = out[0].shape[dim], int(size)
        if have > size:
            out[0] = xp.take(out[0], xp.arange(size), axis=dim)
        elif have < size:
            widths = [(0, 0)] * out[0].ndim
            widths[dim] = (0, size - have)
            out[0] = xp.pad(out[0], widths, constant_values=0 if fill_value is None else fill_value)
        for place, wanted, fill in ((1, return_index, 1), (len(out) - 1, return_counts, 0)):
            if wanted:
                out[place] = out[place][:size] if have > size else xp.pad(out[place], (0, size - have),
                                                                          constant_values=fill)
    results = [Tensor(o) for o in out]
    return results[0] if len(results) == 1 else tuple(results)


def nonzero(x):
    """The indices of ``x``'s non-zero entries, one int32 array per axis (a tuple)."""
    return tuple(Tensor(i.astype("int32")) for i in _xp().nonzero(_array(x)))


def unravel_index(indices, shape):
    """Flat ``indices`` as one coordinate array per axis of ``shape`` (a tuple, in the indices' dtype)."""
    data = _integers(indices, "unravel_index: indices")
    total = 1
    for n in shape:
        total *= int(n)
    if data.size:
        low, high = int(data.min()), int(data.max())
        if low < 0 or high >= total:
            raise ValueError(f"unravel_index: indices must be in [0, {total}) for shape {tuple(shape)}; received "
                             f"{low if low < 0 else high}")
    return tuple(Tensor(i.astype(data.dtype)) for i in _xp().unravel_index(data, tuple(int(n) for n in shape)))


def argpartition(x, kth, axis=-1):
    """Indices that put the ``kth`` smallest entry in place along ``axis`` (smaller before, larger after; int32).
    Which equal or same-side entries go where is not specified (NumPy's and torch's orders differ)."""
    data = _array(x)
    n = data.size if axis is None else data.shape[axis]
    if not -n <= kth < n:
        raise ValueError(f"argpartition: kth must be in [-{n}, {n}) along that axis; received {kth}")
    return Tensor(_xp().argpartition(data, kth, axis=axis).astype("int32"))


def histogram(x, bins=10, range=None):  # noqa: A002 (Keras's name)
    """``(counts, edges)`` of ``x`` in ``bins`` equal bins over ``range`` (min to max by default), both in ``x``'s
    float dtype (floatx for integers), as Keras 3 on torch gives them."""
    data = _array(x)
    kind = data.dtype.name if data.dtype.kind == "f" else B.floatx()
    if int(bins) < 1:
        raise ValueError(f"histogram: bins must be a positive int, received {bins}")
    counts, edges = _xp().histogram(data.astype(kind), bins=int(bins), range=range)
    return Tensor(counts.astype(kind)), Tensor(edges.astype(kind))


def _ints2(x, y, what, fn):
    a, b = _integers(x, f"{what}: x1"), _integers(y, f"{what}: x2")
    kind = result_type(a.dtype, b.dtype)
    return Tensor(fn(_xp(), a.astype(kind), b.astype(kind)))


def gcd(x1, x2):
    """The greatest common divisor of integers (non-negative)."""
    return _ints2(x1, x2, "gcd", lambda xp, a, b: xp.gcd(a, b))


def lcm(x1, x2):
    """The least common multiple of integers (non-negative)."""
    return _ints2(x1, x2, "lcm", lambda xp, a, b: xp.lcm(a, b))


def nextafter(x1, x2):
    """The next representable float after ``x1`` towards ``x2``, in their float dtype (floatx for integers).
    (Keras 3 on torch steps in float64 and rounds back, so float32 input comes back unchanged; this steps in
    the result's own dtype, as NumPy and Keras 3 on NumPy do.)"""
    a, b = _array(x1), _array(x2)
    kind = result_type(a.dtype, b.dtype, float)
    return Tensor(_xp().nextafter(a.astype(kind), b.astype(kind)))


def _bits(x, y, name):
    a = _integers(x, f"{name}: x")
    b = y if isinstance(y, int) else _integers(y, f"{name}: y")
    if not isinstance(b, int):
        kind = result_type(a.dtype, b.dtype)
        a, b = a.astype(kind), b.astype(kind)
    return Tensor(getattr(_xp(), name)(a, b))


def bitwise_and(x, y):
    """``x & y`` on integers or bools."""
    return _bits(x, y, "bitwise_and")


def bitwise_or(x, y):
    """``x | y`` on integers or bools."""
    return _bits(x, y, "bitwise_or")


def bitwise_xor(x, y):
    """``x ^ y`` on integers or bools."""
    return _bits(x, y, "bitwise_xor")


def bitwise_invert(x):
    """``~x`` on integers or bools."""
    return Tensor(_xp().invert(_integers(x, "bitwise_invert: x")))


bitwise_not = bitwise_invert


def bitwise_left_shift(x, y):
    """``x << y`` on integers."""
    return _bits(x, y, "left_shift")


def bitwise_right_shift(x, y):
    """``x >> y`` on integers (arithmetic for signed types)."""
    return _bits(x, y, "right_shift")


left_shift, right_shift = bitwise_left_shift, bitwise_right_shift


def _window(name, x, *args):
    n = int(_array(x)) if not isinstance(x, int) else x
    if n < 0:
        raise ValueError(f"{name}: the window length must be non-negative, received {n}")
    return Tensor(getattr(_xp(), name)(n, *args).astype(B.floatx()))


def bartlett(x):
    """The Bartlett (triangular) window of ``x`` points (floatx)."""
    return _window("bartlett", x)


def blackman(x):
    """The Blackman window of ``x`` points (floatx)."""
    return _window("blackman", x)


def hamming(x):
    """The Hamming window of ``x`` points (floatx)."""
    return _window("hamming", x)


def hanning(x):
    """The Hann window of ``x`` points (floatx)."""
    return _window("hanning", x)


def kaiser(x, beta):
    """The Kaiser window of ``x`` points and shape ``beta`` (floatx)."""
    return _window("kaiser", x, float(beta))


def vander(x, N=None, increasing=False):  # noqa: N803 (Keras's name)
    """The Vandermonde matrix of the 1-D ``x``: columns ``x ** (N-1) ... x ** 0`` (or increasing), in ``x``'s
    dtype, computed in at least floatx (as Keras 3)."""
    data = _array(x)
    if data.ndim != 1:
        raise ValueError(f"vander: x must be 1-D; received shape {tuple(data.shape)}")
    compute = result_type(data.dtype, B.floatx())
    return Tensor(_xp().vander(data.astype(compute), N=N, increasing=increasing).astype(data.dtype))


def dtype(x):
    """``x``'s dtype as Keras 3's standardized name (``"float32"``, ``"int64"``, ...)."""
    found = getattr(x, "dtype", None)
    return standardize_dtype(found if found is not None else _array(x).dtype)
