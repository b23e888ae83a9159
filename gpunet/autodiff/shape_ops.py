"""Shape ops (reshape, transpose, concatenate, indexing, tiling) and matrix products, with their
vector-Jacobian products."""
from .. import backend as B
from .tensor import Tensor, lift, result, unbroadcast, value_of


def _ints(values):
    """Counts or a shape as a tuple of Python ints: an int, a sequence (whose items may be 0-d
    tensors, e.g. ``K.shape(x)[0]``) or a 1-D tensor."""
    if isinstance(values, Tensor):
        values = values.numpy().reshape(-1).tolist()
    elif isinstance(values, int):
        values = (values,)
    return tuple(int(v) for v in values)


def shape(x):
    """The shape of ``x`` as a 1-D int32 tensor (Keras 2's ``K.shape``; ``K.int_shape`` gives a tuple)."""
    return Tensor(B.get_backend().asarray(lift(x).shape, dtype="int32"))


def reshape(x, shape):
    """``x`` with a new shape (one -1 allowed): a tuple whose items may be 0-d tensors, or a 1-D
    tensor (``K.reshape(x, (K.shape(x)[0], -1))``, ``K.reshape(x, K.shape(y))``)."""
    t = lift(x)
    source = t.shape
    return result(t.data.reshape(_ints(shape)), (t, lambda g: g.reshape(source)))


def flatten(x):
    """``x`` as one dimension."""
    return reshape(x, (-1,))


def batch_flatten(x):
    """``x`` as ``(batch, everything else)``."""
    return reshape(x, (lift(x).shape[0], -1))


def expand_dims(x, axis=-1):
    """``x`` with a new axis of length 1 at ``axis``."""
    t = lift(x)
    source = t.shape
    return result(B.get_backend().xp.expand_dims(t.data, axis), (t, lambda g: g.reshape(source)))


def squeeze(x, axis):
    """``x`` without the length-1 axis ``axis``."""
    t = lift(x)
    source = t.shape
    return result(B.get_backend().xp.squeeze(t.data, axis=axis), (t, lambda g: g.reshape(source)))


def transpose(x, axes=None):
    """``x`` with its axes reversed (Keras's ``K.transpose``) or permuted as ``axes``."""
    t = lift(x)
    perm = tuple(range(t.ndim))[::-1] if axes is None else tuple(int(a) % t.ndim for a in axes)
    inverse = [0] * len(perm)
    for i, p in enumerate(perm):
        inverse[p] = i
    return result(t.data.transpose(perm), (t, lambda g: g.transpose(inverse)))


def permute_dimensions(x, pattern):
    """Keras 2's name for `transpose` with a permutation."""
    return transpose(x, pattern)


def concatenate(tensors, axis=-1):
    """The tensors joined along ``axis`` (Keras's default: the last)."""
    ts = [lift(t) for t in tensors]
    if not ts:
        raise ValueError("concatenate needs at least one tensor, received an empty list.")
    ndim = ts[0].ndim
    ax = axis % ndim if ndim else 0
    xp = B.get_backend().xp
    out = xp.concatenate([t.data for t in ts], axis=ax)
    bounds, offset = [], 0
    for t in ts:
        bounds.append((offset, offset + t.shape[ax]))
        offset += t.shape[ax]

    def piece(lo, hi):
        index = (slice(None),) * ax + (slice(lo, hi),)
        return lambda g: g[index]
    return result(out, *[(t, piece(lo, hi)) for t, (lo, hi) in zip(ts, bounds)])


def stack(tensors, axis=0):
    """The tensors stacked along a new axis."""
    return concatenate([expand_dims(t, axis) for t in tensors], axis=axis)


def reverse(x, axes):
    """``x`` reversed along ``axes`` (an int or a list of ints)."""
    t = lift(x)
    xp, dims = B.get_backend().xp, _ints(axes)
    return result(xp.flip(t.data, axis=dims), (t, lambda g: xp.flip(g, axis=dims)))


def tile(x, n):
    """``x`` repeated ``n[i]`` times along each axis ``i`` (``n``: one count per axis, or an int for
    a 1-D ``x``, as Keras 2's ``K.tile``); the gradient sums the copies."""
    t = lift(x)
    reps, source = _ints(n), t.shape
    if len(reps) != t.ndim:
        raise ValueError(f"tile needs one repeat count per axis: x has shape {source}, received n={reps}.")
    interleaved = tuple(d for pair in zip(reps, source) for d in pair)
    copies = tuple(range(0, 2 * len(source), 2))
    return result(B.get_backend().xp.tile(t.data, reps), (t, lambda g: g.reshape(interleaved).sum(axis=copies)))


def repeat_elements(x, rep, axis):
    """Each slice of ``x`` along ``axis`` repeated ``rep`` times in place (``numpy.repeat``:
    ``[a, b]`` becomes ``[a, a, b, b]``); the gradient sums the repeats."""
    t = lift(x)
    source, rep = t.shape, int(rep)
    if not -t.ndim <= axis < t.ndim:
        raise ValueError(f"repeat_elements axis {axis} is out of range for a tensor of rank {t.ndim}.")
    ax = axis % t.ndim
    split = source[:ax] + (source[ax], rep) + source[ax + 1:]
    out = B.get_backend().xp.repeat(t.data, rep, axis=ax)
    return result(out, (t, lambda g: g.reshape(split).sum(axis=ax + 1)))


def gather(reference, indices):
    """Keras 2's ``K.gather``: ``reference``'s slices along the first axis at ``indices`` (an int or
    an integer array or tensor of any shape); a slice picked several times gets the sum of its gradients."""
    if not isinstance(indices, int):
        indices = B.get_backend().asarray(value_of(indices))
        if indices.dtype.kind not in "iu":
            raise TypeError(f"gather takes integer indices, received an array of {indices.dtype}; "
                            f"cast them first (K.cast(indices, 'int32')).")
    return getitem(reference, indices)


def _basic(index):
    """True when ``index`` selects without repeating an element (ints, slices, ..., None)."""
    items = index if isinstance(index, tuple) else (index,)
    return all(i is None or i is Ellipsis or isinstance(i, (int, slice)) for i in items)


def getitem(x, index):
    """``x[index]``: slices, ints, ``None``, ``...``, integer or boolean arrays. Elements picked
    several times (repeated integer indices) receive the sum of their gradients."""
    t = lift(x)
    basic = _basic(index)
    if not basic:  # index arrays (NumPy, lists, tensors) as arrays of the data's backend (CuPy wants its own)
        ops = B.get_backend()
        items = index if isinstance(index, tuple) else (index,)
        items = tuple(i if i is None or i is Ellipsis or isinstance(i, (int, slice))
                      else ops.asarray(i.data if isinstance(i, Tensor) else i) for i in items)
        index = items if isinstance(index, tuple) else items[0]
    data = t.data

    def vjp(g):
        xp = B.get_backend().xp
        full = xp.zeros(data.shape, g.dtype)
        if basic:
            full[index] = g
        else:
            xp.add.at(full, index, g)
        return full
    return result(data[index], (t, vjp))


def _swap_last(a):
    return a if a.ndim < 2 else a.swapaxes(-1, -2)


def matmul(a, b):
    """The matrix product ``a @ b`` (NumPy's rules: batch dimensions broadcast)."""
    ta, tb = lift(a), lift(b)
    x, y = ta.data, tb.data
    xp = B.get_backend().xp
    out = xp.matmul(x, y)
    # 1-D operands are promoted as matmul does: (K,) -> (1, K) on the left, (K, 1) on the right.
    x2 = x[None, :] if x.ndim == 1 else x
    y2 = y[:, None] if y.ndim == 1 else y
    out_shape = list(out.shape)
    if x.ndim == 1:
        out_shape.insert(len(out_shape) - (0 if y.ndim == 1 else 1), 1)
    if y.ndim == 1:
        out_shape.append(1)

    def grad_a(g):
        ga = xp.matmul(g.reshape(out_shape), _swap_last(y2))
        return unbroadcast(ga, x2.shape).reshape(x.shape)

    def grad_b(g):
        gb = xp.matmul(_swap_last(x2), g.reshape(out_shape))
        return unbroadcast(gb, y2.shape).reshape(y.shape)
    return result(out, (ta, grad_a), (tb, grad_b))


def dot(a, b):
    """Keras's ``K.dot``: the matrix product for 1-D and 2-D ``b`` (``(..., K) . (K, M)``);
    ``b`` of higher rank is refused (use `batch_dot`-style `matmul` explicitly)."""
    tb = lift(b)
    if tb.ndim > 2:
        raise ValueError(f"K.dot in gpunet multiplies by a 1-D or 2-D tensor, received one of shape {tb.shape}; "
                         f"use gpunet.ops.matmul for batched products.")
    return matmul(a, tb)


def batch_dot(x, y, axes=None):
    """Keras 2's ``K.batch_dot``: for each sample ``i``, ``x[i]`` and ``y[i]`` contracted over
    ``axes = (x's axis, y's axis)`` (an int: the same for both; None: x's last with y's last for a
    2-D ``y``, else with y's second to last, so 3-D inputs give ``x[i] @ y[i]``). The result has
    ``x``'s other axes, then ``y``'s; two 2-D inputs give ``(batch, 1)``, as tf.keras."""
    tx, ty = lift(x), lift(y)
    if tx.ndim < 2 or ty.ndim < 2:
        raise ValueError(f"batch_dot needs inputs of rank 2 or more, received shapes {tx.shape} and {ty.shape}.")
    if tx.shape[0] != ty.shape[0]:
        raise ValueError(f"batch_dot needs the same batch size, received shapes {tx.shape} and {ty.shape}.")
    if axes is None:
        axes = (tx.ndim - 1, ty.ndim - 1 if ty.ndim == 2 else ty.ndim - 2)
    elif isinstance(axes, int):
        axes = (axes, axes)
    ax, ay = int(axes[0]) % tx.ndim, int(axes[1]) % ty.ndim
    if 0 in (ax, ay) or tx.shape[ax] != ty.shape[ay]:
        raise ValueError(f"batch_dot cannot contract axis {ax} of shape {tx.shape} with axis {ay} of {ty.shape} "
                         f"(axis 0 is the batch; the lengths must match).")
    # x as (batch, rest, K), y as (batch, K, rest): one batched matmul, then the rest unfolded.
    x_perm = [0] + [i for i in range(1, tx.ndim) if i != ax] + [ax]
    y_perm = [0, ay] + [i for i in range(1, ty.ndim) if i != ay]
    x_rest = tuple(tx.shape[i] for i in x_perm[1:-1])
    y_rest = tuple(ty.shape[i] for i in y_perm[2:])
    batch, depth = tx.shape[0], tx.shape[ax]
    x3 = reshape(transpose(tx, x_perm), (batch, -1, depth))
    y3 = reshape(transpose(ty, y_perm), (batch, depth, -1))
    out_shape = (batch,) + x_rest + y_rest
    return reshape(matmul(x3, y3), out_shape if len(out_shape) > 1 else (batch, 1))
