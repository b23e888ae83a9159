"""Keras 3's ``keras.ops`` for making and indexing arrays, beyond Keras 2's backend functions: constants
(``ones``, ``arange``, ``eye``, ...), ``take``, ``take_along_axis``, ``split``, ``repeat``, ``flip``, ``pad``,
``einsum``, ``top_k``, ``sort``, ``slice`` and ``slice_update``, ``tril``/``triu``, ``moveaxis``...; each with
its vector-Jacobian products (an element picked several times gets the sum of its gradients), checked against
Keras 3 on torch (tests/test_keras3_ops.py).
"""
import builtins

from .. import backend as B
from ..backend import index_maps as I
from .shape_ops import getitem, reshape, reverse, transpose
from .tensor import Tensor, lift, result, unbroadcast, value_of


def _xp():
    return B.get_backend().xp


def _host_ints(indices, what):
    """Integer indices (an array, list, tensor or int) as a host int64 array."""
    plain = isinstance(indices, (int, list, tuple))
    return I.host_ints(indices, B.get_backend(), None if plain else value_of(indices), what)


def _dtype(dtype, default=None):
    return dtype or default or B.floatx()


def _sizes(shape):
    """``shape`` as Python ints: sizes given as 0-d tensors or arrays too (``ops.shape(x)[0]``, as Keras 3's
    OCR example passes them)."""
    if isinstance(shape, (list, tuple)):
        return tuple(int(value_of(d)) if hasattr(value_of(d), "shape") else d for d in shape)
    data = value_of(shape)
    return int(data) if getattr(data, "ndim", None) == 0 else shape


def ones(shape, dtype=None):
    """Ones (floatx unless ``dtype``), a constant."""
    return Tensor(_xp().ones(_sizes(shape), _dtype(dtype)))


def zeros(shape, dtype=None):
    """Zeros (floatx unless ``dtype``), a constant."""
    return Tensor(_xp().zeros(_sizes(shape), _dtype(dtype)))


def full(shape, fill_value, dtype=None):
    """``shape`` filled with ``fill_value`` (floatx unless ``dtype``), a constant."""
    return Tensor(_xp().full(_sizes(shape), fill_value, _dtype(dtype)))


def full_like(x, fill_value, dtype=None):
    """``x``'s shape filled with ``fill_value`` (``x``'s dtype unless ``dtype``), a constant."""
    data = lift(x).data
    return Tensor(_xp().full(data.shape, fill_value, dtype or data.dtype))


def eye(N, M=None, k=0, dtype=None):  # noqa: N803 (Keras's names)
    """Ones on the ``k``-th diagonal of an ``N`` x ``M`` matrix (floatx unless ``dtype``), a constant."""
    return Tensor(_xp().eye(N, M, k, dtype=_dtype(dtype)))


def arange(start, stop=None, step=1, dtype=None):
    """``start, start + step, ...`` below ``stop`` (one argument: ``0 ... start``), a constant: int32 for
    integer arguments, floatx where one is a float (Keras 3's types)."""
    numbers = [a for a in (start, stop, step) if a is not None]
    default = "int32" if builtins.all(isinstance(a, int) for a in numbers) else B.floatx()
    start, stop = (0, start) if stop is None else (start, stop)
    return Tensor(_xp().arange(start, stop, step, dtype=dtype or default))


def take(x, indices, axis=None):
    """``x``'s entries at ``indices`` along ``axis`` (``x`` flattened where None); negative indices count
    from the end."""
    t = lift(x)
    if axis is None:
        t, axis = reshape(t, (-1,)), 0
    axis %= t.data.ndim
    idx = _xp().asarray(_host_ints(indices, "take"))
    return getitem(t, (builtins.slice(None),) * axis + (idx,))


def take_along_axis(x, indices, axis=None):
    """``x``'s entries at ``indices`` (as many axes as ``x``, broadcast against it on the others) along
    ``axis`` (``x`` and ``indices`` flattened where None)."""
    t = lift(x)
    idx = _host_ints(indices, "take_along_axis")
    if axis is None:
        t, idx, axis = reshape(t, (-1,)), idx.reshape(-1), 0
    shape, ndim = t.data.shape, t.data.ndim
    if idx.ndim != ndim:
        raise ValueError(f"take_along_axis: indices need as many axes as x ({ndim}), received shape {idx.shape}")
    axis %= ndim
    index = []
    for d in range(ndim):
        if d == axis:
            index.append(idx)
            continue
        index.append(I.axis_grid(builtins.max(shape[d], idx.shape[d]), ndim, d, shape[d] == 1))
    xp = _xp()
    return getitem(t, tuple(xp.asarray(i) for i in index))


def split(x, indices_or_sections, axis=0):
    """``x`` cut along ``axis`` into that many equal parts, or at those indices: a list of tensors."""
    t = lift(x)
    n = t.data.shape[axis]
    if isinstance(indices_or_sections, int):
        if n % indices_or_sections:
            raise ValueError(f"split: {n} entries along axis {axis} do not split into {indices_or_sections} equal "
                             "parts")
        step = n // indices_or_sections
        cuts = list(range(step, n, step))
    else:
        cuts = [int(c) for c in indices_or_sections]
    bounds = zip([0] + cuts, cuts + [n])
    axis %= t.data.ndim
    return [getitem(t, (builtins.slice(None),) * axis + (builtins.slice(lo, hi),)) for lo, hi in bounds]


def repeat(x, repeats, axis=None):
    """Each entry of ``x`` ``repeats`` times along ``axis`` (``x`` flattened where None); ``repeats`` an int
    or one count per entry."""
    t = lift(x)
    if axis is None:
        t, axis = reshape(t, (-1,)), 0
    n = t.data.shape[axis]
    return take(t, I.repeated(n, _host_ints(repeats, "repeat")), axis=axis)


def flip(x, axis=None):
    """``x`` reversed along ``axis`` (an int, a tuple, or every axis where None)."""
    t = lift(x)
    axes = range(t.data.ndim) if axis is None else (axis if isinstance(axis, (tuple, list)) else (axis,))
    return reverse(t, [a % t.data.ndim for a in axes])


def moveaxis(x, source, destination):
    """``x`` with the axes ``source`` moved to ``destination`` (ints or tuples), the others in order."""
    t = lift(x)
    ndim = t.data.ndim
    source, destination = ([a % ndim for a in (v if isinstance(v, (tuple, list)) else (v,))]
                           for v in (source, destination))
    order = [d for d in range(ndim) if d not in source]
    for d, s in sorted(zip(destination, source)):  # (NumPy's moveaxis)
        order.insert(d, s)
    return transpose(t, order)


def swapaxes(x, axis1, axis2):
    """``x`` with two axes exchanged."""
    t = lift(x)
    order = list(range(t.data.ndim))
    order[axis1], order[axis2] = order[axis2], order[axis1]
    return transpose(t, order)


def broadcast_to(x, shape):
    """``x`` broadcast to ``shape``; the gradient sums over what was stretched."""
    t = lift(x)
    return result(_xp().broadcast_to(t.data, tuple(shape)).copy(), (t, lambda g: unbroadcast(g, t.shape)))


_INDEX_MODES = ("edge", "reflect", "symmetric", "wrap")


def pad(x, pad_width, mode="constant", constant_values=None):
    """``x`` padded as ``numpy.pad`` pads it: ``mode`` "constant" (``constant_values``, 0 by default),
    "edge", "reflect", "symmetric" or "wrap" (the padding's gradient goes back to the entries it copies)."""
    t = lift(x)
    ndim = t.data.ndim
    widths = I.pad_widths(pad_width, ndim)
    if mode == "constant":
        xp = _xp()
        out = xp.pad(t.data, widths, mode="constant", constant_values=constant_values or 0)
        inner = tuple(builtins.slice(lo, lo + n) for (lo, _), n in zip(widths, t.data.shape))
        return result(out, (t, lambda g: g[inner]))
    if mode not in _INDEX_MODES:
        raise NotImplementedError(f"pad: mode {mode!r} is not implemented (constant, {', '.join(_INDEX_MODES)} are)")
    if constant_values is not None:
        raise ValueError(f"pad: constant_values goes with mode='constant', not {mode!r}")
    for axis, (lo, hi) in enumerate(widths):  # each axis: the entries its padding copies, gathered
        if lo or hi:
            t = take(t, I.padded(t.data.shape[axis], lo, hi, mode), axis=axis)
    return t


def tril(x, k=0):
    """``x`` with the entries above the ``k``-th diagonal of its last two axes set to 0."""
    t, xp = lift(x), _xp()
    return result(xp.tril(t.data, k), (t, lambda g: xp.tril(g, k)))


def triu(x, k=0):
    """``x`` with the entries below the ``k``-th diagonal of its last two axes set to 0."""
    t, xp = lift(x), _xp()
    return result(xp.triu(t.data, k), (t, lambda g: xp.triu(g, k)))


def argsort(x, axis=-1):
    """The indices that sort ``x`` along ``axis`` (stable; int32, no gradient)."""
    return Tensor(_xp().argsort(lift(x).data, axis=axis, kind="stable").astype("int32"))


def sort(x, axis=-1):
    """``x`` sorted along ``axis``; each value's gradient goes back to where it came from."""
    return take_along_axis(x, argsort(x, axis).data, axis=axis)


def top_k(x, k, sorted=True):  # noqa: A002 (Keras's name)
    """``(values, indices)`` of the ``k`` largest entries along the last axis, largest first (ties: the
    first one first, as torch.topk); the indices are int32."""
    data = lift(x).data
    xp = _xp()
    order = xp.argsort(-data if data.dtype.kind != "b" else ~data, axis=-1, kind="stable")[..., :k].astype("int32")
    return take_along_axis(x, order, axis=-1), Tensor(order)


def slice(inputs, start_indices, shape):  # noqa: A001 (Keras's name)
    """The block of ``inputs`` of ``shape`` from ``start_indices`` on."""
    index = tuple(builtins.slice(int(s), int(s) + int(n)) for s, n in zip(start_indices, shape))
    return getitem(inputs, index)


def slice_update(inputs, start_indices, updates):
    """``inputs`` with the block at ``start_indices`` replaced by ``updates`` (a new tensor); the block's
    gradient goes to ``updates``."""
    t, u = lift(inputs), lift(updates)
    index = tuple(builtins.slice(int(s), int(s) + int(n)) for s, n in zip(start_indices, u.data.shape))
    out = t.data.copy()
    out[index] = u.data

    def to_inputs(g):
        g = g.copy()
        g[index] = 0
        return g
    return result(out, (t, to_inputs), (u, lambda g: g[index]))


def einsum(subscripts, *operands):
    """Einstein summation (``"ij,jk->ik"``, ``"...j,jk->...k"``, implicit output too); each operand's gradient
    is the summation of the output's gradient with the other operands. An index repeated within one operand
    (a diagonal) is not implemented."""
    from ..backend.einsum_ops import explicit_subscripts
    tensors = [lift(o) for o in operands]
    terms, output = explicit_subscripts(subscripts, [t.ndim for t in tensors])
    if builtins.any(len(set(term)) != len(term) for term in terms):
        raise NotImplementedError(f"einsum: an index repeated within one operand (a diagonal) is not implemented: "
                                  f"{subscripts!r}")
    ops, datas = B.get_backend(), [t.data for t in tensors]
    out = ops.einsum(f"{','.join(terms)}->{output}", *datas)

    def vjp_for(i):
        return lambda g: ops.einsum_gradient(terms, output, i, g, datas)
    return result(out, *[(t, vjp_for(i)) for i, t in enumerate(tensors)])


def outer(x1, x2):
    """The outer product of ``x1`` and ``x2`` flattened."""
    return einsum("i,j->ij", reshape(x1, (-1,)), reshape(x2, (-1,)))


def diagonal(x, offset=0, axis1=0, axis2=1):
    """The ``offset``-th diagonal of the plane (``axis1``, ``axis2``), as the last axis."""
    t = lift(x)
    ndim = t.data.ndim
    a1, a2 = axis1 % ndim, axis2 % ndim
    t = transpose(t, [d for d in range(ndim) if d not in (a1, a2)] + [a1, a2])
    rows, cols = t.data.shape[-2:]
    n = builtins.max(0, builtins.min(rows, cols - offset) if offset >= 0 else builtins.min(rows + offset, cols))
    rows_at, cols_at = I.diagonal(n, offset)
    xp = _xp()
    return getitem(t, (Ellipsis, xp.asarray(rows_at), xp.asarray(cols_at)))

