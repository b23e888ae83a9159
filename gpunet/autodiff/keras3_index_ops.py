"""Keras 3's ``keras.ops`` for segments and scatters: ``segment_sum``/``max``/``min``/``prod``, ``scatter``,
``scatter_update``, ``get_item``, ``fmod``/``fmax``/``fmin``/``ldexp``, with their vector-Jacobian products as
Keras 3 on torch differentiates them (the lookups that take no gradient: keras3_constant_ops.py). Checked against
Keras 3 on torch: tests/test_keras3_index_ops.py."""
import math

from .. import backend as B
from ..backend.dtype_functions import result_type
from .elementwise import _floating as _float
from .shape_ops import getitem
from .tensor import Tensor, lift, result, unbroadcast

__all__ = ["segment_sum", "segment_max", "segment_min", "segment_prod", "scatter", "scatter_update", "get_item",
           "fmod", "fmax", "fmin", "ldexp"]


def _xp():
    return B.get_backend().xp


def _ints(x, what):
    """Integer indices (a list, host or device array, tensor) as a device int64 array."""
    data = x.data if isinstance(x, Tensor) else B.get_backend().asarray(x)
    if data.dtype.kind not in "iu":
        raise TypeError(f"{what} must be integers, received dtype {data.dtype}")
    return data.astype("int64")


def _rows(mask, like):
    """A per-row ``mask`` shaped to broadcast against ``like`` (n, *rest)."""
    return mask.reshape(mask.shape + (1,) * (like.ndim - 1))


def segment_sum(data, segment_ids, num_segments=None, sorted=False):  # noqa: A002 (Keras's name)
    """The sum of ``data``'s rows in each segment (``segment_ids`` one id per leading entry of ``data``; negative
    ids dropped); ``num_segments`` defaults to the largest id + 1. ``sorted`` is a hint, not needed."""
    t, flat, ids, n = _flat_segments(data, segment_ids, num_segments, "segment_sum")
    xp = _xp()
    out = xp.zeros((n + 1,) + flat.shape[1:], flat.dtype)
    xp.add.at(out, ids, flat)
    return result(out[:n], (t, lambda g: _spread(xp, g, ids).reshape(t.shape)))


def _flat_segments(data, segment_ids, num_segments, what):
    t, ids_data = lift(data), _ints(segment_ids, f"{what}: segment_ids")
    k = ids_data.ndim
    if tuple(ids_data.shape) != t.shape[:k]:
        raise ValueError(f"{what}: segment_ids of shape {tuple(ids_data.shape)} must match the leading axes of "
                         f"data, shape {t.shape}")
    ids = ids_data.reshape(-1)
    top = int(ids.max()) if ids.size else -1  # (one host read: the output's shape depends on it)
    n = top + 1 if num_segments is None else int(num_segments)
    if top >= n:
        raise ValueError(f"{what}: segment ids must be in [0, num_segments={n}) (negative ids are dropped); "
                         f"received id {top}")
    ids = _xp().where(ids < 0, n, ids)
    return t, t.data.reshape((ids.size,) + t.shape[k:]), ids, n


def _spread(xp, g, ids):
    """Each row's share of the segments' gradient ``g`` (the extra segment of dropped rows gets 0)."""
    return xp.concatenate([g, xp.zeros((1,) + g.shape[1:], g.dtype)])[ids]


def _scan(xp, values, ids, op, longest):
    """Inclusive running ``op`` within each run of equal ``ids`` (``ids`` sorted): Hillis-Steele doubling,
    ``ceil(log2(longest))`` whole-array steps, so no ufunc.at is needed for max, min or product."""
    step = 1
    while step < longest:
        same = _rows(ids[step:] == ids[:-step], values)
        values[step:] = xp.where(same, op(values[step:], values[:-step]), values[step:])
        step *= 2
    return values


def _segment_reduce(data, segment_ids, num_segments, what, op, identity):
    """Sorted rows, their running ``op`` both ways, and each segment's total (``identity`` when empty)."""
    t, flat, ids, n = _flat_segments(data, segment_ids, num_segments, what)
    xp = _xp()
    order = xp.argsort(ids, kind="stable")
    sid, rows = ids[order], flat[order]
    counts = xp.bincount(sid, minlength=n + 1)
    longest = int(counts.max()) if sid.size else 0
    left = _scan(xp, rows.copy(), sid, op, longest)
    ends = xp.cumsum(counts) - 1
    totals = left[xp.maximum(ends, 0)] if sid.size else xp.zeros((n + 1,) + flat.shape[1:], flat.dtype)
    out = xp.where(_rows(counts > 0, totals), totals, xp.asarray(identity, flat.dtype))
    return t, flat, ids, order, sid, rows, left, out, longest


def _extreme(data, segment_ids, num_segments, what, op, identity):
    t, flat, ids, *_, out, _ = _segment_reduce(data, segment_ids, num_segments, what, op, identity)
    xp = _xp()

    def vjp(g):  # tied extremes share the gradient equally (torch's scatter_reduce amax/amin)
        hit = (flat == out[ids]).astype(g.dtype)
        ties = xp.zeros(out.shape, g.dtype)
        xp.add.at(ties, ids, hit)
        return (_spread(xp, g, ids) * hit / xp.maximum(ties, 1)[ids]).reshape(t.shape)
    n = out.shape[0] - 1
    return result(out[:n], (t, vjp))


def segment_max(data, segment_ids, num_segments=None, sorted=False):  # noqa: A002
    """The largest row entry in each segment (-inf where empty, as Keras 3); tied maxima share the gradient."""
    return _extreme(data, segment_ids, num_segments, "segment_max", _xp().maximum, _lowest(data, -math.inf))


def segment_min(data, segment_ids, num_segments=None, sorted=False):  # noqa: A002
    """The smallest row entry in each segment (inf where empty, as Keras 3); tied minima share the gradient."""
    return _extreme(data, segment_ids, num_segments, "segment_min", _xp().minimum, _lowest(data, math.inf))


def _lowest(data, bound):
    """``bound`` (±inf) for floats; integers have no inf, so their dtype's extreme instead."""
    kind = lift(data).data.dtype
    if kind.kind in "fc":
        return bound
    info = _xp().iinfo(kind)
    return info.min if bound < 0 else info.max


def segment_prod(data, segment_ids, num_segments=None, sorted=False):  # noqa: A002
    """The product of the rows in each segment (1 where empty); the gradient is the product of the other rows
    of the segment, from running products both ways (exact with zeros, no division)."""
    xp = _xp()
    t, flat, ids, order, sid, rows, left, out, longest = _segment_reduce(
        data, segment_ids, num_segments, "segment_prod", xp.multiply, 1)

    def vjp(g):
        right = _scan(xp, rows[::-1].copy(), sid[::-1], xp.multiply, longest)[::-1]
        before, after = xp.ones_like(rows), xp.ones_like(rows)
        if rows.shape[0] > 1:
            before[1:] = xp.where(_rows(sid[1:] == sid[:-1], rows[1:]), left[:-1], 1)
            after[:-1] = xp.where(_rows(sid[:-1] == sid[1:], rows[:-1]), right[1:], 1)
        grad = xp.empty(flat.shape, g.dtype)
        grad[order] = _spread(xp, g, sid) * before * after
        return grad.reshape(t.shape)
    return result(out[:-1], (t, vjp))


def _index_tuple(indices, shape, what):
    """``indices`` (..., k) as ``k`` device index arrays (flattened over ``...``), each checked against its axis."""
    idx = _ints(indices, f"{what}: indices")
    k = idx.shape[-1] if idx.ndim else 0
    if idx.ndim == 0 or k > len(shape):
        raise ValueError(f"{what}: indices must end in an axis of at most {len(shape)} coordinates (the target's "
                         f"rank); received indices of shape {tuple(idx.shape)}")
    idx = idx.reshape(-1, k)
    if idx.shape[0]:
        xp = _xp()
        low, high = B.get_backend().to_host(xp.stack([idx.min(axis=0), idx.max(axis=0)])).tolist()
        for axis, (lo, hi) in enumerate(zip(low, high)):
            if lo < -shape[axis] or hi >= shape[axis]:
                bad = lo if lo < -shape[axis] else hi
                raise IndexError(f"{what}: index {bad} is out of bounds for axis {axis} of size {shape[axis]} "
                                 f"(expected -{shape[axis]} <= index < {shape[axis]})")
    return tuple(idx[:, j] for j in range(k))


def scatter(indices, values, shape):
    """Zeros of ``shape`` with ``values`` added at ``indices`` (..., k) (repeated indices add up, as Keras 3);
    each value's gradient is the output's gradient where it went."""
    v, shape = lift(values), tuple(int(n) for n in shape)
    index = _index_tuple(indices, shape, "scatter")
    xp = _xp()
    slab = (len(index[0]),) + shape[len(index):]
    if v.size != math.prod(slab):
        raise ValueError(f"scatter: values must hold {slab} entries for these indices and shape {shape}; "
                         f"received shape {v.shape}")
    out = xp.zeros(shape, v.dtype)
    xp.add.at(out, index, v.data.reshape(slab))
    return result(out, (v, lambda g: g[index].reshape(v.shape)))


def scatter_update(inputs, indices, updates, reduction=None):
    """``inputs`` with ``updates`` written at ``indices`` (n, k) (``reduction`` None) or added there ("add").
    Gradients: ``updates`` get the output's gradient where they went; ``inputs`` get it where they were kept
    (everywhere for "add")."""
    if reduction not in (None, "add"):
        raise NotImplementedError(f"scatter_update: reduction={reduction!r} is not implemented (None and 'add' "
                                  "are)")
    t, u = lift(inputs), lift(updates)
    index = _index_tuple(indices, t.shape, "scatter_update")
    xp = _xp()
    slab = (len(index[0]),) + t.shape[len(index):]
    if u.size != math.prod(slab):
        raise ValueError(f"scatter_update: updates must have shape {slab} for these indices and inputs of shape "
                         f"{t.shape}; received shape {u.shape}")
    out, new = t.data.copy(), u.data.reshape(slab).astype(t.dtype)
    if reduction == "add":
        xp.add.at(out, index, new)
    else:
        out[index] = new

    def to_inputs(g):
        if reduction == "add":
            return g
        g = g.copy()
        g[index] = 0
        return g
    return result(out, (t, to_inputs), (u, lambda g: g[index].reshape(u.shape)))


def get_item(x, key):
    """``x[key]`` (slices, ints, None, ..., integer or boolean arrays); repeated picks add their gradients."""
    return getitem(x, key)


def _binary(x1, x2, value, slopes):
    """``value(xp, a, b)`` on float tensors with the gradients ``g * slope(xp, a, b)`` (None: no gradient)."""
    ta, tb = _float(x1), lift(x2)
    tb = tb if tb.dtype.kind in "fc" or slopes[1] is None else _float(tb)
    xp = _xp()
    out = value(xp, ta.data, tb.data)
    # (each gradient in its input's dtype: float32 with float64 computes in float64)
    parents = [(ta, lambda g: unbroadcast(g * slopes[0](xp, ta.data, tb.data), ta.shape).astype(ta.dtype))]
    if slopes[1] is not None:
        parents.append((tb, lambda g: unbroadcast(g * slopes[1](xp, ta.data, tb.data), tb.shape).astype(tb.dtype)))
    return result(out, *parents)


def fmod(x1, x2):
    """The remainder of C's division (the sign of ``x1``); gradients 1 and ``-trunc(x1 / x2)`` (torch's).
    Integer operands stay integers (no gradient)."""
    a, b = lift(x1), lift(x2)
    if a.dtype.kind not in "fc" and b.dtype.kind not in "fc":
        kind = result_type(a.dtype, b.dtype)
        return Tensor(_xp().fmod(a.data.astype("int32" if kind == "bool" else kind), b.data.astype(kind)))
    return _binary(x1, x2, lambda xp, p, q: xp.fmod(p, q),
                   (lambda xp, p, q: xp.ones_like(p), lambda xp, p, q: -xp.trunc(p / q)))


def fmax(x1, x2):
    """The larger of ``x1`` and ``x2``, ignoring NaN; the gradient goes to ``x1`` where ``x1 >= x2`` or ``x2`` is
    NaN, else to ``x2`` (torch's rule for ties)."""
    def first(xp, p, q):
        return ((p >= q) | xp.isnan(q)).astype(p.dtype)
    return _binary(x1, x2, lambda xp, p, q: xp.fmax(p, q), (first, lambda xp, p, q: 1 - first(xp, p, q)))


def fmin(x1, x2):
    """The smaller of ``x1`` and ``x2``, ignoring NaN; the gradient goes to ``x1`` where ``x1 <= x2`` or ``x2`` is
    NaN, else to ``x2`` (torch's rule for ties)."""
    def first(xp, p, q):
        return ((p <= q) | xp.isnan(q)).astype(p.dtype)
    return _binary(x1, x2, lambda xp, p, q: xp.fmin(p, q), (first, lambda xp, p, q: 1 - first(xp, p, q)))


def ldexp(x1, x2):
    """``x1 * 2 ** x2`` for integer exponents ``x2``; the gradient for ``x1`` is ``2 ** x2``."""
    e = lift(x2) if not isinstance(x2, int) else Tensor(B.get_backend().asarray(x2, dtype="int32"))
    if e.dtype.kind not in "iu":
        raise TypeError(f"ldexp: the exponent x2 must be integers, received dtype {e.dtype}")
    return _binary(x1, e, lambda xp, p, q: xp.ldexp(p, q).astype(p.dtype),
                   (lambda xp, p, q: xp.ldexp(xp.ones_like(p), q), None))
