"""More of Keras 2's backend functions on tensors: ``K.sin``, ``K.cos``, ``K.bias_add``, ``K.repeat``,
``K.batch_normalization``, ``K.map_fn``/``K.foldl``/``K.foldr``, ``K.print_tensor``, ``K.truncated_normal``
and the type queries (``K.dtype``, ``K.is_keras_tensor``, ``K.is_sparse``, ``K.to_dense``).

The computing ones are made of gpunet's differentiable ops, so they train (gradients from the tape),
and on the functional API's symbolic tensors they record themselves as layers, as ``K.exp`` does.
"""
import sys

from ..ops import sin, cos  # noqa: F401 (exported: K.sin, K.cos)
from ..autodiff import elementwise as _E, shape_ops as _S
from ..autodiff.tensor import Operators, Tensor, lift as _lift
from ..layers.symbolic import accepts_symbolic, is_probing


def dtype(x):
    """Keras 2's ``K.dtype``: the dtype of a tensor, variable, weight, array or symbolic tensor as a string
    (``'float32'``)."""
    kind = getattr(x, "dtype", None)
    if kind is None:
        raise TypeError(f"K.dtype expects a tensor or variable, received {type(x).__name__}: {x!r}")
    return kind if isinstance(kind, str) else getattr(kind, "name", str(kind))


def is_keras_tensor(x):
    """Keras 2's ``K.is_keras_tensor``: True for the functional API's symbolic tensors (``Input()`` and
    layers' outputs), False for values (tensors, variables, weights); ValueError for anything else, as
    tf.keras 2 (a NumPy array included)."""
    from ..layers.symbolic import KerasTensor
    if isinstance(x, KerasTensor):
        return True
    if isinstance(x, Operators):
        return False
    raise ValueError(f"Unexpectedly found an instance of type `{type(x)}`. Expected a symbolic tensor instance.")


def is_sparse(tensor):
    """Keras 2's ``K.is_sparse``: always False, gpunet has no sparse tensors."""
    return False


def to_dense(tensor):
    """Keras 2's ``K.to_dense``: ``tensor`` itself (gpunet's tensors are all dense)."""
    return tensor


def _same_float(t, like):
    # tf.keras 2 refuses a float64 bias on float32 values; a NumPy default float64 array is cast instead
    # of widening the output
    if t.dtype != like.dtype and t.dtype.kind == "f" and like.dtype.kind == "f":
        return _E.cast(t, like.dtype)
    return t


@accepts_symbolic
def bias_add(x, bias, data_format=None):
    """Keras 2's ``K.bias_add``: ``x`` plus ``bias`` on its channels axis, the last for ``'channels_last'``
    and axis 1 for ``'channels_first'`` (``data_format`` None: `image_data_format`). ``bias`` is a
    vector of the channels' size, or has ``ndim(x) - 1`` axes for a 3-D to 5-D ``x`` (all axes but the
    batch, channels last; for ``'channels_first'`` tf.keras 2 reshapes it to ``(1, channels, ...)``, and
    so does gpunet). Differentiable in both."""
    from .keras_functions import image_data_format
    data_format = image_data_format() if data_format is None else data_format
    if data_format not in {"channels_first", "channels_last"}:
        raise ValueError("Unknown data_format: " + str(data_format))
    t = _lift(x)
    b = _same_float(_lift(bias), t)
    rank, bias_rank = len(t.shape), len(b.shape)
    if bias_rank != 1 and bias_rank != rank - 1:
        raise ValueError(f"Unexpected bias dimensions {bias_rank}, expect to be 1 or {rank - 1} dimensions")
    if bias_rank == 1:
        if rank < 2:
            raise ValueError(f"K.bias_add needs x of at least 2 dimensions (batch, ..., channels), received shape "
                             f"{t.shape}.")
        axis = 1 if data_format == "channels_first" else rank - 1
        if t.shape[axis] != b.shape[0]:
            raise ValueError(f"K.bias_add: the bias has {b.shape[0]} values, x's channels axis (axis {axis} for "
                             f"{data_format!r}) has {t.shape[axis]}; x has shape {t.shape}.")
        return _E.add(t, _S.reshape(b, (b.shape[0],) + (1,) * (rank - 1 - axis)))
    if rank not in (3, 4, 5):
        raise ValueError(f"K.bias_add takes a bias of {bias_rank} dimensions only for x of 3 to 5 dimensions "
                         f"(tf.nn.bias_add wants a vector): x has shape {t.shape}, the bias {b.shape}.")
    shape = b.shape
    # tf.keras 2 reshapes (does not transpose) a channels-last bias to channels first: kept as it is
    target = (1, shape[-1]) + shape[:-1] if data_format == "channels_first" else (1,) + shape
    return _E.add(t, _S.reshape(b, target))


@accepts_symbolic
def repeat(x, n):
    """Keras 2's ``K.repeat``: a 2-D ``(samples, dim)`` tensor as ``(samples, n, dim)``, each row ``n`` times
    (differentiable; the gradient sums the copies). ValueError for another rank."""
    t = _lift(x)
    if len(t.shape) != 2:
        raise ValueError(f"K.repeat repeats a 2-D tensor (samples, dim), received shape {t.shape}.")
    return _S.tile(_S.expand_dims(t, 1), [1, int(n), 1])


@accepts_symbolic
def batch_normalization(x, mean, var, beta, gamma, axis=-1, epsilon=1e-3):
    """Keras 2's ``K.batch_normalization``: ``(x - mean) / sqrt(var + epsilon) * gamma + beta`` (``beta``,
    ``gamma`` None: 0 and 1), differentiable in all five. ``mean``, ``var``, ``beta`` and ``gamma``
    broadcast against ``x``; for a 4-D ``x`` they are flattened to vectors over ``axis`` (1/-3 or 3/-1),
    as tf.keras 2's fused batch norm there (another ``axis``: ValueError). Otherwise ``axis`` is unused."""
    t = _lift(x)
    if len(t.shape) == 4:
        if axis not in (1, -3, 3, -1):
            raise ValueError(f"K.batch_normalization of a 4-D tensor normalizes axis 1 or 3 (as tf.keras 2's fused "
                             f"batch norm: NCHW or NHWC), received axis={axis!r}.")
        tail = (1, 1) if axis in (1, -3) else ()
        # the four as vectors over that axis (tf.keras 2 flattens them for fused_batch_norm)
        mean, var, beta, gamma = [None if p is None else _S.reshape(p, (-1,) + tail) for p in (mean, var, beta, gamma)]
    inv = _E.divide(1.0, _E.sqrt(_E.add(_same_float(_lift(var), t), epsilon)))
    if gamma is not None:
        inv = _E.multiply(inv, _same_float(_lift(gamma), t))
    shift = _E.multiply(_same_float(_lift(mean), t), inv)
    shift = _E.negative(shift) if beta is None else _E.subtract(_same_float(_lift(beta), t), shift)
    return _E.add(_E.multiply(t, inv), shift)


def _slices(elems):
    """``(count, k -> the k-th slice)`` of a tensor, or of a list/tuple of tensors (slices of the same
    structure), along axis 0."""
    if isinstance(elems, (list, tuple)):
        parts = [_lift(e) for e in elems]
        counts = {p.shape[0] if p.shape else None for p in parts}
        if len(counts) != 1 or None in counts:
            raise ValueError(f"K.map_fn/foldl/foldr: the tensors in elems need the same size on axis 0, received "
                             f"shapes {[p.shape for p in parts]}.")
        return counts.pop(), lambda k: type(elems)(_S.getitem(p, k) for p in parts)
    t = _lift(elems)
    if not t.shape:
        raise ValueError("K.map_fn/foldl/foldr iterate over axis 0 of elems: received a scalar.")
    return t.shape[0], lambda k: _S.getitem(t, k)


@accepts_symbolic
def map_fn(fn, elems, name=None, dtype=None):
    """Keras 2's ``K.map_fn``: ``fn`` applied to each slice of ``elems`` along axis 0 (a tuple or list of
    tensors: ``fn`` gets one slice of each), the results stacked (a tuple of results: a tuple of stacks).
    ``dtype`` (the results' dtype, one per result for several) casts them to it. Differentiable as ``fn`` is."""
    count, slice_at = _slices(elems)
    if count == 0:
        raise ValueError("K.map_fn: elems has no elements on axis 0.")
    outs = [fn(slice_at(k)) for k in range(count)]
    several = isinstance(outs[0], (list, tuple))
    stacks = [_S.stack([o[j] for o in outs]) for j in range(len(outs[0]))] if several else [_S.stack(outs)]
    kinds = list(dtype) if isinstance(dtype, (list, tuple)) else [dtype] * len(stacks)
    stacks = [s if kind is None else _E.cast(s, kind) for s, kind in zip(stacks, kinds)]
    return type(outs[0])(stacks) if several else stacks[0]


def _fold(fn, elems, initializer, order):
    count, slice_at = _slices(elems)
    steps = list(order(range(count)))
    if initializer is None:
        if not steps:
            raise ValueError("K.foldl/foldr: elems has no elements and no initializer was given.")
        initializer = slice_at(steps.pop(0))
    acc = initializer
    for k in steps:
        acc = fn(acc, slice_at(k))
    return acc if isinstance(acc, (list, tuple, Tensor)) else _lift(acc)


@accepts_symbolic
def foldl(fn, elems, initializer=None, name=None):
    """Keras 2's ``K.foldl``: ``acc = fn(acc, elems[k])`` over axis 0 from the first slice, starting from
    ``initializer`` (None: ``elems[0]``, then the rest). Differentiable as ``fn`` is."""
    return _fold(fn, elems, initializer, iter)


@accepts_symbolic
def foldr(fn, elems, initializer=None, name=None):
    """Keras 2's ``K.foldr``: `foldl` from the last slice back (None ``initializer``: ``elems[-1]``)."""
    return _fold(fn, elems, initializer, reversed)


def _number(v, kind):
    # TensorFlow's shortest of %.6g/%.9g (float32) or %.15g/%.17g (float64) that reads back the same
    if kind.kind == "f":
        short, full = (6, 9) if kind.itemsize <= 4 else (15, 17)
        text = "%.*g" % (short, v)
        return text if kind.type(float(text)) == v or v != v else "%.*g" % (full, v)
    return str(int(v))


def _format(a, summarize, depth=0):
    """``a`` (a NumPy array) as ``tf.print`` writes it: nested brackets, the first and last ``summarize``
    entries of a longer axis around ``...`` (``summarize`` -1: all)."""
    if a.ndim == 0:
        return _number(a[()], a.dtype)
    n = a.shape[0]
    cut = summarize >= 0 and n > 2 * summarize
    keep = list(range(summarize)) + [None] + list(range(n - summarize, n)) if cut else list(range(n))
    items = ["..." if k is None else _format(a[k], summarize, depth + 1) for k in keep]
    sep = " " if a.ndim == 1 else "\n" * (a.ndim - 1) + " " * (depth + 1)
    return "[" + sep.join(items) + "]"


@accepts_symbolic
def print_tensor(x, message="", summarize=3):
    """Keras 2's ``K.print_tensor``: prints ``message`` and the values of ``x`` to stdout as ``tf.print``
    does (the first and last ``summarize`` entries of each axis; None: 3, -1: all) and returns ``x``
    unchanged, its gradient too. In a model it prints at each call, not while the model is built."""
    if is_probing():
        return x
    host = _lift(x).numpy()
    if host.dtype.kind == "b":
        host = host.astype("int8")  # tf.print writes booleans as 1 and 0
    print(f"{message} {_format(host, 3 if summarize is None else int(summarize))}", file=sys.stdout)
    return x


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Keras 2's ``K.truncated_normal``: normal values, those more than two ``stddev`` from ``mean`` drawn
    again, from gpunet's seeded generator (or ``seed``'s own); a constant tensor in floatx unless
    ``dtype`` says otherwise."""
    from . import floatx, get_backend
    from .keras_functions import _generator
    from ..autodiff.shape_ops import _ints
    draw = get_backend().draw_truncated_normal(_ints(shape), float(mean), float(stddev), dtype or floatx(),
                                               _generator(seed))
    return Tensor(draw)


def binary_focal_crossentropy(target, output, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False):
    """tf.keras 2's ``K.binary_focal_crossentropy``: elementwise `binary_crossentropy` times ``(1 - p_t) ** gamma``
    (``p_t`` the probability given to the label), and ``alpha`` / ``1 - alpha`` per label with
    ``apply_class_balancing``; on the tape, so a loss of your own written with it trains."""
    from ..ops import binary_crossentropy, sigmoid
    target, output = _lift(target), _lift(output)
    p = sigmoid(output) if from_logits else output
    p_t = target * p + (1.0 - target) * (1.0 - p)
    values = _E.power(1.0 - p_t, gamma) * binary_crossentropy(target, output, from_logits=from_logits)
    if apply_class_balancing:
        values = (target * alpha + (1.0 - target) * (1.0 - alpha)) * values
    return values


def categorical_focal_crossentropy(target, output, alpha=0.25, gamma=2.0, from_logits=False, axis=-1):
    """tf.keras 2's ``K.categorical_focal_crossentropy``: ``sum(alpha * (1 - p) ** gamma * -target * log(p), axis)``
    over ``output`` renormalized to sum to 1 along ``axis`` and clipped to ``[eps, 1 - eps]`` (softmax first
    with ``from_logits``)."""
    from ..ops import softmax, sum as _sum
    from . import epsilon
    target, output = _lift(target), _lift(output)
    if target.shape != output.shape:
        raise ValueError(f"K.categorical_focal_crossentropy: target shape {tuple(target.shape)} and output shape "
                         f"{tuple(output.shape)} are incompatible (they must be equal).")
    if from_logits:
        output = softmax(output, axis=axis)
    output = output / _sum(output, axis=axis, keepdims=True)
    output = _E.clip(output, epsilon(), 1.0 - epsilon())
    return _sum(_E.power(1.0 - output, gamma) * alpha * (-target * _E.log(output)), axis=axis)


__all__ = ["sin", "cos", "dtype", "is_keras_tensor", "is_sparse", "to_dense", "bias_add", "repeat",
           "batch_normalization", "map_fn", "foldl", "foldr", "print_tensor", "truncated_normal",
           "binary_focal_crossentropy", "categorical_focal_crossentropy"]
