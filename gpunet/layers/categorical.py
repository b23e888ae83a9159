"""What tf.keras 2's categorical preprocessing layers (`Discretization`, `CategoryEncoding`,
`IntegerLookup`) share: their output modes and the encoding of integer indices into them
(tf_keras's ``preprocessing_utils.encode_categorical_inputs``), their dtypes, the state weights
whose length follows the data, the batches ``adapt`` reads, and the absent input gradient.

Dtypes: gpunet keeps a float dtype per layer (the one fit and predict hand inputs over in), so
these layers keep two. ``layer.dtype`` is that float dtype; ``layer.output_dtype`` is what tf.keras
calls the layer's dtype: ``"int64"`` for ``output_mode="int"`` (unless another integer dtype is
given), else the float dtype. Configs write the latter under ``"dtype"``, as tf.keras does. Called
directly (``layer(x)``), a layer returns its ``output_dtype``, as tf.keras; inside a model, whose
layers hand each other arrays of the model's float dtype (its Dense layers, its fused plans, the
GPU's kernels), integer outputs travel as whole numbers in ``layer.dtype`` (what Embedding reads),
so ``predict`` gives them as floats where tf.keras gives int64.
"""
import contextlib
import contextvars

from .. import backend as B
from ..autodiff.tensor import value_of
from .base import Weight

INT, ONE_HOT, MULTI_HOT, COUNT, TF_IDF = "int", "one_hot", "multi_hot", "count", "tf_idf"
INT_DTYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")


_direct = contextvars.ContextVar("gpunet_preprocessing_direct_call", default=False)


@contextlib.contextmanager
def called_directly():
    """Within the block, the layers compute for a direct call (``layer(x)``): see the module's doc."""
    token = _direct.set(True)
    try:
        yield
    finally:
        _direct.reset(token)


def result_dtype(layer):
    """The dtype ``layer`` returns now: its ``output_dtype``, or inside a model its float dtype."""
    dtype = layer.output_dtype
    return dtype if dtype.startswith("float") or _direct.get() else layer.dtype


def is_direct():
    return _direct.get()


def validate_string_arg(value, allowed, layer_name, arg_name):
    """tf_keras's ``layer_utils.validate_string_arg`` (its message, its spelling included)."""
    if isinstance(value, str) and value in allowed:
        return
    raise ValueError(f"Unkown value for `{arg_name}` argument of layer {layer_name}. Allowed values are: or one of "
                     f"the following values: {tuple(allowed)}. Received: {value}")


def refuse_sparse(sparse, layer_name):
    """gpunet has no sparse tensors: ``sparse=True`` is refused by name (False passes)."""
    if sparse:
        raise ValueError(f"{layer_name}: `sparse=True` asks for a tf.SparseTensor output, and gpunet has no sparse "
                         f"tensors (its layers compute on dense NumPy/CuPy arrays). Use sparse=False: the dense "
                         f"output holds the same values. Received: sparse={sparse!r}")


def dtype_name(dtype):
    """A dtype given as a string, a NumPy/TensorFlow dtype or a Keras policy dict, by name (None: None)."""
    if dtype is None:
        return None
    if isinstance(dtype, dict):
        return (dtype.get("config") or {}).get("name")
    return getattr(dtype, "name", None) or getattr(dtype, "__name__", None) or str(dtype)


def split_dtype(kwargs):
    """Take ``dtype`` out of ``kwargs``: an integer dtype is returned (the output's), a float one
    stays for `Layer` (the layer's own dtype)."""
    name = dtype_name(kwargs.get("dtype"))
    if name in INT_DTYPES:
        kwargs.pop("dtype")
        return name
    return None


def encode(ops, indices, mode, depth, dtype, count_weights=None, idf_weights=None):
    """Integer ``indices`` (an array of any rank) in output ``mode``: tf_keras's
    ``encode_categorical_inputs`` on dense tensors. Indices outside ``[0, depth)`` count nowhere
    (tf's bincount drops them: IntegerLookup's mask token in the counting modes)."""
    xp = ops.xp
    if mode == INT:
        return indices.astype(dtype, copy=False)
    original = tuple(indices.shape)
    if indices.ndim == 0:
        indices = indices.reshape(1)
        count_weights = None if count_weights is None else count_weights.reshape(1)
    if mode == ONE_HOT and indices.shape[-1] != 1:
        indices = indices[..., None]
        count_weights = None if count_weights is None else count_weights[..., None]
    if indices.ndim > 2:
        raise ValueError(f"When output_mode is not `'int'`, maximum supported output rank is 2. Received output_mode "
                         f"{mode} and input shape {original}, which would result in output rank {indices.ndim}.")
    rows = indices.reshape(1, -1) if indices.ndim == 1 else indices
    n = rows.shape[0]
    valid = (rows >= 0) & (rows < depth)
    # one bincount over row * depth + index counts every row at once, on either backend
    flat = (xp.arange(n, dtype="int64")[:, None] * depth + xp.where(valid, rows, 0)).reshape(-1)
    weights = valid.reshape(-1).astype(dtype if dtype.startswith("float") else "float64")
    if count_weights is not None:
        weights = weights * count_weights.reshape(-1).astype(weights.dtype)
    counts = xp.bincount(flat, weights=weights, minlength=n * depth).reshape(n, depth)
    if mode in (ONE_HOT, MULTI_HOT):
        counts = counts > 0
    out = counts.astype(dtype, copy=False)
    if indices.ndim == 1:
        out = out.reshape(depth)
    if mode == TF_IDF:
        out = out * idf_weights
    return out


def encoded_shape(shape, mode, depth):
    """The output shape `encode` gives inputs of ``shape`` (tf_keras's ``compute_shape_for_encode_categorical``)."""
    shape = list(shape)
    if mode == INT:
        return tuple(shape)
    if not shape:
        return (depth,)
    if mode == ONE_HOT and shape[-1] != 1:
        return tuple(shape) + (depth,)
    return tuple(shape[:-1]) + (depth,)


class StateWeight(Weight):
    """A non-trainable weight whose last axis grows with the layer's state (Discretization's quantile
    summary, IntegerLookup's idf weights: variables of shape ``(2, None)`` and ``(None,)`` in
    tf.keras). ``assign`` takes a value of another length; loading takes the file's length
    (saving/weight_matching.py asks `resizable`). Never in a model's flat parameter buffer (it is
    not trainable), so its value may be replaced rather than written in place."""

    __slots__ = ()
    resizable = True

    def assign(self, array):
        array = value_of(array)
        shape = tuple(getattr(array, "shape", ()))
        if len(shape) != len(self.shape) or shape[:-1] != self.shape[:-1]:
            raise ValueError(f"Layer '{self.layer.name}' weight '{self.name}' has shape {self.shape} (any length on "
                             f"the last axis), received an array of shape {shape}.")
        ops = self.layer.ops
        self.value = ops.copy(ops.asarray(array, dtype=self.value.dtype))


def no_input_gradient(layer, x):
    """What a layer whose inputs are indices or buckets hands back as their gradient: zeros (Keras
    gives None), so that a layer before it can still run its backward, as Embedding does."""
    return layer.ops.zeros(x.shape, x.dtype if x.dtype.kind == "f" else layer.dtype)


def host_array(data):
    """``data`` (an array of either backend, a list, a number) as a NumPy array."""
    ops = B.backend_for(data)
    return B.resolve("numpy").xp.asarray(ops.to_host(ops.asarray(data)))


def host_batches(data, batch_size, steps):
    """``adapt``'s data as NumPy arrays, batch by batch, as tf.keras's adapt reads it: an array in
    batches of ``batch_size`` samples (32 by default, in order), or the batches a generator or
    `gpunet.utils.Sequence` yields (of ``(x, y)`` tuples, x); ``steps``: at most that many batches."""
    from ..models.batch_sources import adapt_batches, is_batch_source  # (models import layers)
    if is_batch_source(data):
        for batch in adapt_batches(data, steps):
            yield host_array(batch)
        return
    arr = host_array(data)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    size = 32 if batch_size is None else int(batch_size)
    if size < 1:
        raise ValueError(f"adapt: `batch_size` must be a positive integer, received {batch_size!r}")
    for i, lo in enumerate(range(0, arr.shape[0], size)):
        if steps is not None and i >= steps:
            return
        yield arr[lo:lo + size]


def adapt_build(layer, batch):
    """Build ``layer`` on ``adapt``'s first batch, as tf.keras's adapt does: a layer given no input
    shape records one of the batch's rank with every size unknown (its config then holds it, as
    tf.keras's does); it is built for the batch's sizes (a Sequential checks them: None fits any)."""
    if layer.built:
        return
    if layer.batch_input_shape is None:
        layer.batch_input_shape = (None,) * max(batch.ndim, 1)
    layer.build((None,) + tuple(batch.shape[1:]))
