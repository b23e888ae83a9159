"""Keras 3's ``keras.ops`` neural-network functions beyond Keras 2's backend: ``glu``, the normalizations
(``layer_normalization``, ``rms_normalization``, ``batch_normalization``), ``dot_product_attention``, ``psnr``,
``depth_to_space``/``space_to_depth``, ``in_top_k``, ``multi_hot``, ``saturate_cast`` and ``identity``; and the
activations Keras 3 added (gpunet/keras3_activations.py), re-exported. The differentiable ones are composed of
gpunet's taped ops, so their gradients are those ops' (checked against Keras 3 on torch:
tests/test_keras3_nn_ops.py)."""
import math

from .. import backend as B
from ..keras3_activations import (celu, hard_shrink, hard_silu, hard_swish, hard_tanh, soft_shrink, sparse_plus,
                                  sparse_sigmoid, sparsemax, squareplus, tanh_shrink, threshold)
from .array_ops import eye, repeat, split
from .elementwise import _floating, add, cast, clip, multiply, square, subtract
from .math_ops import _xp, rsqrt
from .more_ops import log10
from .nn import activation
from .reductions import mean
from .shape_ops import matmul, reshape, transpose
from .tensor import Tensor, lift


def _dtype_name(dtype):
    return B.floatx() if dtype is None else _xp().dtype(getattr(dtype, "name", dtype)).name


def _axes(axis, ndim, what):
    """``axis`` (an int or a sequence) as sorted non-negative ints, each checked against ``ndim``."""
    axes = [axis] if isinstance(axis, int) else list(axis)
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(f"{what}: expected axis in [{-ndim}, {ndim}) for an input of rank {ndim}, "
                             f"received axis={axis}")
    return sorted(a % ndim for a in axes)


def _compute_float(x):
    """``x`` in at least float32 (Keras 3's normalizations compute half precision in float32) and its dtype."""
    t = lift(x)
    original = t.data.dtype
    if original.kind != "f" or original.itemsize < 4:
        t = cast(t, "float32")
    return t, original


def _back_to(t, dtype):
    return t if t.data.dtype == dtype else cast(t, dtype.name)


def glu(x, axis=-1):
    """The gated linear unit: ``a * sigmoid(b)`` for the halves ``a``, ``b`` of ``x`` along ``axis``."""
    t = _floating(x)
    size = t.data.shape[_axes(axis, t.data.ndim, "glu")[0]]
    if size % 2:
        raise ValueError(f"glu: expected an even size along axis {axis}, received shape {tuple(t.data.shape)}")
    a, b = split(t, 2, axis=axis)
    return multiply(a, activation("sigmoid", b))


def _broadcastable(v, shape, axes, what):
    """``gamma``/``beta``/``scale`` shaped to broadcast over the normalized ``axes`` (as Keras 3 reshapes them)."""
    if v is None:
        return None
    v = lift(v)
    if v.data.ndim == len(shape) or axes == [len(shape) - 1]:
        return v
    target = [shape[a] if a in axes else 1 for a in range(len(shape))]
    if v.data.size != math.prod(target):
        raise ValueError(f"{what}: expected {math.prod(target)} values (the normalized axes' sizes "
                         f"{[shape[a] for a in axes]}), received shape {tuple(v.data.shape)}")
    return reshape(v, target)


def layer_normalization(x, gamma=None, beta=None, axis=-1, epsilon=None, **kwargs):
    """``(x - mean) / sqrt(variance + epsilon) * gamma + beta`` with the moments over ``axis`` (an int or
    several); ``epsilon`` defaults to ``backend.epsilon()``. ``rms_scaling=True`` is Keras 3's deprecated
    variant (``x / sqrt(variance + epsilon) * gamma``)."""
    rms_scaling = kwargs.pop("rms_scaling", False)
    if kwargs:
        raise TypeError(f"layer_normalization: expected only the keyword rms_scaling, received {sorted(kwargs)}")
    epsilon = B.epsilon() if epsilon is None else epsilon
    t, original = _compute_float(x)
    shape = tuple(t.data.shape)
    axes = _axes(axis, len(shape), "layer_normalization")
    gamma = _broadcastable(gamma, shape, axes, "layer_normalization gamma")
    beta = _broadcastable(beta, shape, axes, "layer_normalization beta")
    m = mean(t, axis=tuple(axes), keepdims=True)
    centered = subtract(t, m)
    # the variance of the centered values (not mean(x^2) - mean^2) for torch's F.layer_norm's accuracy
    inv = rsqrt(add(mean(square(centered), axis=tuple(axes), keepdims=True), epsilon))
    out = multiply(t if rms_scaling else centered, inv)
    if gamma is not None:
        out = multiply(out, gamma)
    if beta is not None and not rms_scaling:
        out = add(out, beta)
    return _back_to(out, original)


def rms_normalization(x, scale=None, axis=-1, epsilon=None):
    """``x / sqrt(mean(x^2) + epsilon) * scale`` with the mean over ``axis`` (an int or several); ``epsilon``
    defaults to ``backend.epsilon()``."""
    epsilon = B.epsilon() if epsilon is None else epsilon
    t, original = _compute_float(x)
    axes = _axes(axis, t.data.ndim, "rms_normalization")
    out = multiply(t, rsqrt(add(mean(square(t), axis=tuple(axes), keepdims=True), epsilon)))
    if scale is not None:
        out = multiply(out, _broadcastable(scale, tuple(t.data.shape), axes, "rms_normalization scale"))
    return _back_to(out, original)


def batch_normalization(x, mean, variance, axis, offset=None, scale=None, epsilon=1e-3):
    """``(x - mean) / sqrt(variance + epsilon) * scale + offset``: ``mean``, ``variance``, ``offset`` and
    ``scale`` are vectors along ``axis`` of ``x``."""
    t = _floating(x)
    shape = [1] * t.data.ndim
    axis = _axes(axis, t.data.ndim, "batch_normalization")[0]
    shape[axis] = t.data.shape[axis]

    def along(v, name):
        v = lift(v)
        if tuple(v.data.shape) != (shape[axis],):
            raise ValueError(f"batch_normalization: expected {name} of shape ({shape[axis]},) (x's axis {axis}), "
                             f"received shape {tuple(v.data.shape)}")
        return reshape(v, shape)
    inv = rsqrt(add(along(variance, "variance"), epsilon))
    if scale is not None:
        inv = multiply(inv, along(scale, "scale"))
    out = multiply(subtract(t, along(mean, "mean")), inv)
    return out if offset is None else add(out, along(offset, "offset"))


def dot_product_attention(query, key, value, bias=None, mask=None, scale=None, is_causal=False,
                          flash_attention=None, attn_logits_soft_cap=None):
    """``softmax(query key^T * scale + bias) value`` with inputs ``(batch, seq, heads, dim)``: ``scale``
    defaults to ``1 / sqrt(dim)``; ``mask`` (bool, broadcast to ``(batch, heads, q_seq, kv_seq)``) keeps the
    attention where True; ``is_causal`` keeps query ``i`` to keys ``<= i``. Fewer key/value heads than query
    heads are shared among groups of query heads. ``bias`` and ``mask`` exclude each other."""
    if flash_attention:
        raise ValueError("dot_product_attention: flash_attention=True is not available in gpunet (expected "
                         "None or False); the attention is computed with matmul and softmax")
    if attn_logits_soft_cap is not None:
        raise ValueError("dot_product_attention: attn_logits_soft_cap is only supported for JAX on TPU, "
                         f"expected None, received {attn_logits_soft_cap!r}")
    q, k, v = (_floating(a) for a in (query, key, value))
    shapes = tuple(tuple(a.data.shape) for a in (q, k, v))
    if any(len(s) != 4 for s in shapes):
        raise ValueError("dot_product_attention: expected 4D inputs (batch, seq, heads, dim), received "
                         f"query.shape={shapes[0]}, key.shape={shapes[1]}, value.shape={shapes[2]}")
    (bq, tq, nq, hq), (bk, sk, nk, hk), (bv, sv, nv, _) = shapes
    if bq != bk or bk != bv or sk != sv or nk != nv or hq != hk or nq % nk:
        raise ValueError("dot_product_attention: expected one batch size, key and value of one sequence length "
                         "and head count, query and key of one head dim, and query heads a multiple of key heads; "
                         f"received query.shape={shapes[0]}, key.shape={shapes[1]}, value.shape={shapes[2]}")
    if bias is not None and mask is not None:
        raise ValueError("dot_product_attention: expected only one of bias and mask, received both")
    xp, dtype = _xp(), q.data.dtype
    q, k, v = (transpose(a, (0, 2, 1, 3)) for a in (q, k, v))
    if 1 < nk < nq:
        k, v = repeat(k, nq // nk, axis=1), repeat(v, nq // nk, axis=1)
    scale = 1.0 / math.sqrt(hq) if scale is None else scale
    logits = multiply(matmul(q, transpose(k, (0, 1, 3, 2))), scale)
    if mask is not None or is_causal:
        keep = xp.ones((tq, sk), dtype=bool) if mask is None else lift(mask).data.astype(bool)
        if is_causal:
            keep = keep & xp.tril(xp.ones((tq, sk), dtype=bool))
        # Keras 3's finite mask value, added: a query masked throughout gets uniform weights, not NaN
        masked = (65500.0 if dtype.itemsize == 2 else 3.38953e38) * -0.7
        bias = Tensor(xp.where(keep, 0.0, masked).astype(dtype))
    if bias is not None:
        logits = add(logits, cast(lift(bias), dtype.name))
    weights = activation("softmax", logits, axis=-1)
    return transpose(matmul(weights, v), (0, 2, 1, 3))


def psnr(x1, x2, max_val):
    """The peak signal-to-noise ratio ``20 log10(max_val) - 10 log10(mean((x1 - x2)^2))`` (a scalar, in dB)."""
    a, b = _floating(x1), _floating(x2)
    if a.data.shape != b.data.shape:
        raise ValueError(f"psnr: expected x1 and x2 of one shape, received {tuple(a.data.shape)} and "
                         f"{tuple(b.data.shape)}")
    mse = mean(square(subtract(a, b)))
    return subtract(multiply(log10(cast(lift(max_val), a.data.dtype.name)), 20.0), multiply(log10(mse), 10.0))


def _image(x, block_size, data_format, what):
    """``x`` (4D), its format (None: ``backend.image_data_format()``) and its (n, h, w, c) sizes."""
    data_format = B.image_data_format() if data_format is None else data_format
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"{what}: expected data_format 'channels_last' or 'channels_first', received "
                         f"{data_format!r}")
    if not isinstance(block_size, int) or block_size < 2:
        raise ValueError(f"{what}: expected an int block_size >= 2, received {block_size!r}")
    t = lift(x)
    if t.data.ndim != 4:
        raise ValueError(f"{what}: expected a 4D input, received shape {tuple(t.data.shape)}")
    n, a, b, c = t.data.shape
    return t, data_format == "channels_last", ((n, a, b, c) if data_format == "channels_last" else (n, b, c, a))


def depth_to_space(x, block_size, data_format="channels_last"):
    """Channels moved into ``block_size`` x ``block_size`` spatial blocks (TensorFlow's ``depth_to_space``):
    ``(n, h, w, c)`` to ``(n, h * block_size, w * block_size, c / block_size^2)`` (channels last)."""
    t, last, (n, h, w, c) = _image(x, block_size, data_format, "depth_to_space")
    if c % (block_size * block_size):
        raise ValueError(f"depth_to_space: expected channels divisible by block_size^2={block_size ** 2}, "
                         f"received {c} channels (shape {tuple(t.data.shape)})")
    nc, s = c // block_size ** 2, block_size
    if last:
        t = transpose(reshape(t, (n, h, w, s, s, nc)), (0, 1, 3, 2, 4, 5))
        return reshape(t, (n, h * s, w * s, nc))
    t = transpose(reshape(t, (n, nc, s, s, h, w)), (0, 1, 4, 2, 5, 3))
    return reshape(t, (n, nc, h * s, w * s))


def space_to_depth(x, block_size, data_format="channels_last"):
    """``block_size`` x ``block_size`` spatial blocks moved into the channels (TensorFlow's
    ``space_to_depth``): ``(n, h, w, c)`` to ``(n, h / block_size, w / block_size, c * block_size^2)``."""
    t, last, (n, h, w, c) = _image(x, block_size, data_format, "space_to_depth")
    if h % block_size or w % block_size:
        raise ValueError(f"space_to_depth: expected height and width divisible by block_size={block_size}, "
                         f"received {h}x{w} (shape {tuple(t.data.shape)})")
    s = block_size
    if last:
        t = transpose(reshape(t, (n, h // s, s, w // s, s, c)), (0, 1, 3, 2, 4, 5))
        return reshape(t, (n, h // s, w // s, c * s * s))
    t = transpose(reshape(t, (n, c, h // s, s, w // s, s)), (0, 1, 3, 5, 2, 4))
    return reshape(t, (n, c * s * s, h // s, w // s))


def in_top_k(targets, predictions, k):
    """Whether each target's prediction is among the ``k`` largest of its row (ties count: at least the
    ``k``-th largest), a bool vector; no gradient."""
    labels, scores = lift(targets).data, lift(predictions).data
    if scores.ndim != 2 or labels.ndim != 1 or labels.shape[0] != scores.shape[0]:
        raise ValueError("in_top_k: expected targets (batch,) and predictions (batch, classes), received "
                         f"targets.shape={tuple(labels.shape)}, predictions.shape={tuple(scores.shape)}")
    if not isinstance(k, int) or not 1 <= k <= scores.shape[1]:
        raise ValueError(f"in_top_k: expected an int k in [1, {scores.shape[1]}], received k={k!r}")
    xp = _xp()
    kth = xp.sort(scores, axis=-1)[:, -k]
    chosen = xp.take_along_axis(scores, labels.astype("int64")[:, None], axis=-1)[:, 0]
    return Tensor(chosen >= kth)


def multi_hot(inputs, num_classes=None, axis=-1, dtype=None, sparse=False, **kwargs):
    """The classes present in each row of integer labels as 0/1 vectors of ``num_classes`` (Keras 2's name
    ``num_tokens`` works too), ``dtype`` floatx by default; labels outside ``[0, num_classes)`` mark nothing.
    No gradient; ``sparse=True`` is refused (gpunet has no sparse tensors)."""
    if num_classes is None:
        num_classes = kwargs.pop("num_tokens", None)
    if kwargs:
        raise TypeError(f"multi_hot: expected only the keyword num_tokens, received {sorted(kwargs)}")
    if num_classes is None:
        raise ValueError("multi_hot: expected the argument num_classes, received None")
    if sparse:
        raise ValueError("multi_hot: expected sparse=False, received sparse=True (gpunet has no sparse tensors)")
    xp = _xp()
    labels = lift(inputs).data.astype("int64")
    hot = labels[..., None] == xp.arange(int(num_classes))
    hot = xp.moveaxis(hot, -1, axis)
    # Keras 3 reduces axis 1 (axis 0 for a vector), wherever the classes went
    return Tensor(xp.any(hot, axis=1 if labels.ndim > 1 else 0).astype(_dtype_name(dtype)))


def _limits(xp, dtype):
    """The dtype's range as Python numbers, which compare exactly with one another."""
    if dtype.kind == "b":
        return 0, 1
    if dtype.kind in "iu":
        return int(xp.iinfo(dtype).min), int(xp.iinfo(dtype).max)
    return float(xp.finfo(dtype).min), float(xp.finfo(dtype).max)


def saturate_cast(x, dtype):
    """``x`` cast to ``dtype`` after clipping it to the range both dtypes hold (``inf`` to the largest
    finite value), so values out of range saturate instead of wrapping around. Between float types the
    gradient passes where ``x`` was not clipped."""
    t, xp = lift(x), _xp()
    source, target = t.data.dtype, xp.dtype(_dtype_name(dtype))
    if source.kind == "b":
        return cast(t, target.name)
    (in_min, in_max), (out_min, out_max) = _limits(xp, source), _limits(xp, target)
    bounds = []
    for bound, beyond in ((max(in_min, out_min), lambda v: v < out_min), (min(in_max, out_max), lambda v: v > out_max)):
        value = xp.asarray(bound, dtype=source)
        # rounded into a float type, the bound may fall outside the target's range (float32(2**31 - 1) is
        # 2**31): one step back in. (Keras 3 compares in the float type and misses this under NumPy 2.)
        if source.kind == "f" and beyond(value.item()):
            value = xp.nextafter(value, xp.zeros((), dtype=source))
        bounds.append(value.item())
    return cast(clip(t, *bounds), target.name)


def identity(n, dtype=None):
    """The ``n`` x ``n`` identity matrix (floatx unless ``dtype``), a constant."""
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"identity: expected a non-negative int n, received {n!r}")
    return eye(n, dtype=dtype)


__all__ = ["glu", "layer_normalization", "rms_normalization", "batch_normalization", "dot_product_attention",
           "psnr", "depth_to_space", "space_to_depth", "in_top_k", "multi_hot", "saturate_cast", "identity",
           # Keras 3's activations (gpunet/keras3_activations.py), for gpunet.ops
           "celu", "hard_shrink", "hard_silu", "hard_swish", "hard_tanh", "soft_shrink", "sparse_plus",
           "sparse_sigmoid", "sparsemax", "squareplus", "tanh_shrink", "threshold"]
